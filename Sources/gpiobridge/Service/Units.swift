/// The systemd units `gpiobridge service install` writes. They are the files in systemd/, word
/// for word (a test compares them), so the binary installs itself without the source tree.
enum Units {
    static let service = """
        # gpiobridge agent: drives /etc/gpiobridge/profile.yml from MQTT.
        # Install with `gpiobridge service install`; change the profile with `gpiobridge profile apply FILE`.
        [Unit]
        Description=gpiobridge agent (GPIO lines and I2C sensors over MQTT)
        Documentation=man:gpiobridge-agent(1)
        # Installed and enabled before a profile is in place, it waits for one instead of failing.
        ConditionPathExists=/etc/gpiobridge/profile.yml
        Wants=network-online.target
        After=network-online.target

        [Service]
        Type=notify
        ExecStart=/usr/local/bin/gpiobridge agent --profile /etc/gpiobridge/profile.yml
        # Reloads through the agent's control socket and fails when the agent refuses the profile.
        ExecReload=/usr/local/bin/gpiobridge reload
        Restart=on-failure
        RestartSec=2s
        # An invalid profile (exit 2) is not mended by restarting.
        RestartPreventExitStatus=2
        # The agent's event loop answers each watchdog ping; a hung agent is restarted.
        WatchdogSec=30s
        TimeoutStopSec=20s
        Environment=GPIOBRIDGE_RUN_DIR=/run/gpiobridge

        # Its own user; the gpio and i2c groups open /dev/gpiochip* and /dev/i2c-*.
        User=gpiobridge
        Group=gpiobridge
        SupplementaryGroups=gpio i2c
        RuntimeDirectory=gpiobridge
        RuntimeDirectoryMode=0750
        ConfigurationDirectory=gpiobridge
        ConfigurationDirectoryMode=0750
        UMask=0077
        # The broker password, if the profile says password_credential: mqtt-password.
        # LoadCredential=mqtt-password:/etc/gpiobridge/mqtt-password

        # Hardening: only the GPIO and I2C character devices, no privileges, a read-only system.
        DevicePolicy=closed
        DeviceAllow=char-gpiochip rw
        DeviceAllow=char-i2c rw
        CapabilityBoundingSet=
        AmbientCapabilities=
        NoNewPrivileges=yes
        ProtectSystem=strict
        ProtectHome=yes
        PrivateTmp=yes
        PrivateMounts=yes
        ProtectKernelTunables=yes
        ProtectKernelModules=yes
        ProtectKernelLogs=yes
        ProtectControlGroups=yes
        ProtectClock=yes
        ProtectHostname=yes
        ProtectProc=invisible
        ProcSubset=pid
        RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
        RestrictNamespaces=yes
        RestrictRealtime=yes
        RestrictSUIDSGID=yes
        RemoveIPC=yes
        LockPersonality=yes
        MemoryDenyWriteExecute=yes
        SystemCallArchitectures=native
        SystemCallFilter=@system-service
        SystemCallFilter=~@privileged @resources
        # libdispatch lowers its worker threads' priority; the rest of @resources stays denied.
        SystemCallFilter=setpriority
        SystemCallErrorNumber=EPERM
        IPAddressDeny=
        KeyringMode=private

        [Install]
        WantedBy=multi-user.target

        """

    /// The template, one agent per profile (`gpiobridge@garage` runs /etc/gpiobridge/garage.yml):
    /// the single unit with the instance's name put in.
    static var template: String {
        let replacements: [String: [String]] = [
            "# gpiobridge agent: drives /etc/gpiobridge/profile.yml from MQTT.":
                ["# gpiobridge agent, one per profile: gpiobridge@garage.service drives /etc/gpiobridge/garage.yml."],
            "# Install with `gpiobridge service install`; change the profile with `gpiobridge profile apply FILE`.":
                ["# Install with `gpiobridge service install`; change a profile with `gpiobridge profile apply --instance garage FILE`."],
            "Description=gpiobridge agent (GPIO lines and I2C sensors over MQTT)":
                ["Description=gpiobridge agent for profile %i (GPIO lines and I2C sensors over MQTT)"],
            "ConditionPathExists=/etc/gpiobridge/profile.yml": ["ConditionPathExists=/etc/gpiobridge/%i.yml"],
            "ExecStart=/usr/local/bin/gpiobridge agent --profile /etc/gpiobridge/profile.yml":
                ["ExecStart=/usr/local/bin/gpiobridge agent --instance %i"],
            "ExecReload=/usr/local/bin/gpiobridge reload": ["ExecReload=/usr/local/bin/gpiobridge reload --instance %i"],
            "RuntimeDirectoryMode=0750":
                [
                    "RuntimeDirectoryMode=0750", "# Shared by every instance: one stopping must not remove the others' sockets.",
                    "RuntimeDirectoryPreserve=yes",
                ],
            "# LoadCredential=mqtt-password:/etc/gpiobridge/mqtt-password": ["# LoadCredential=mqtt-password:/etc/gpiobridge/%i-mqtt-password"],
        ]
        return service.split(separator: "\n", omittingEmptySubsequences: false)
            .flatMap { replacements[String($0)] ?? [String($0)] }
            .joined(separator: "\n")
    }

    /// The relay: mirrors /etc/gpiobridge/relay.yml's boards. It touches no device, so it gets none.
    static var relayService: String {
        let replacements: [String: [String]] = [
            "# gpiobridge agent: drives /etc/gpiobridge/profile.yml from MQTT.":
                ["# gpiobridge relay: mirrors the ESP8266 boards of /etc/gpiobridge/relay.yml into the gpiobridge topics."],
            "# Install with `gpiobridge service install`; change the profile with `gpiobridge profile apply FILE`.":
                ["# Install with `gpiobridge service install`; check the profile with `gpiobridge profile validate FILE`."],
            "Description=gpiobridge agent (GPIO lines and I2C sensors over MQTT)":
                ["Description=gpiobridge relay (Tasmota, ESPHome and PubSubClient boards into gpiobridge topics)"],
            "Documentation=man:gpiobridge-agent(1)": ["Documentation=man:gpiobridge-relay(1)"],
            "ConditionPathExists=/etc/gpiobridge/profile.yml": ["ConditionPathExists=/etc/gpiobridge/relay.yml"],
            "ExecStart=/usr/local/bin/gpiobridge agent --profile /etc/gpiobridge/profile.yml":
                [
                    "ExecStartPre=/usr/local/bin/gpiobridge relay --check --profile /etc/gpiobridge/relay.yml",
                    "ExecStart=/usr/local/bin/gpiobridge relay --profile /etc/gpiobridge/relay.yml",
                ],
            "# Reloads through the agent's control socket and fails when the agent refuses the profile.": [],
            "ExecReload=/usr/local/bin/gpiobridge reload": [],
            "# The agent's event loop answers each watchdog ping; a hung agent is restarted.":
                ["# The relay's event loop answers each watchdog ping; a hung relay is restarted."],
            "Environment=GPIOBRIDGE_RUN_DIR=/run/gpiobridge": [],
            "# Its own user; the gpio and i2c groups open /dev/gpiochip* and /dev/i2c-*.": ["# The agent's user, without its device groups."],
            "SupplementaryGroups=gpio i2c": [],
            "RuntimeDirectory=gpiobridge": [],
            "RuntimeDirectoryMode=0750": [],
            "# Hardening: only the GPIO and I2C character devices, no privileges, a read-only system.":
                ["# Hardening: no devices, no privileges, a read-only system."],
            "DeviceAllow=char-gpiochip rw": ["PrivateDevices=yes"],
            "DeviceAllow=char-i2c rw": [],
        ]
        return service.split(separator: "\n", omittingEmptySubsequences: false)
            .flatMap { replacements[String($0)] ?? [String($0)] }
            .joined(separator: "\n")
    }

    /// Lets the gpio and i2c groups open the character devices (Raspberry Pi OS ships the same).
    static let udevRules = """
        # gpiobridge: /dev/gpiochip* for group gpio, /dev/i2c-* for group i2c
        SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"
        SUBSYSTEM=="i2c-dev", GROUP="i2c", MODE="0660"

        """
}
