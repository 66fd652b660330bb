import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket standing in for systemd's NOTIFY_SOCKET.
private final class NotifySocket: @unchecked Sendable {
    let path: String
    private let fd: Int32

    init() throws {
        path = NSTemporaryDirectory() + "notify-\(UUID().uuidString.prefix(8)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let bound = withUnixAddress(path) { [fd] in bind(fd, $0, $1) }
        guard fd >= 0, bound == 0 else { throw HarnessError("cannot bind \(path)") }
    }

    /// The next datagram, or nil after `timeout`.
    func receive(timeout: Duration) async -> String? {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 { return String(decoding: buffer[..<count], as: UTF8.self) }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite("systemd: the units, service install and the notify protocol")
struct SystemdTests {
    @Test("service install writes the units of systemd/ word for word, the udev rule and the binary")
    func install() async throws {
        let root = NSTemporaryDirectory() + "gpiobridge-root-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let result = try await run(["service", "install", "--root", root])
        #expect(result.status == 0, "\(result.output)")
        for unit in ["gpiobridge.service", "gpiobridge@.service", "gpiobridge-relay.service"] {
            let installed = try String(contentsOfFile: root + "/etc/systemd/system/" + unit, encoding: .utf8)
            let source = try String(contentsOfFile: packageRoot + "/systemd/" + unit, encoding: .utf8)
            #expect(installed == source, "\(unit) differs from systemd/\(unit)")
        }
        let rules = try String(contentsOfFile: root + "/etc/udev/rules.d/60-gpiobridge.rules", encoding: .utf8)
        #expect(rules.contains(#"SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660""#))
        #expect(rules == (try String(contentsOfFile: packageRoot + "/systemd/60-gpiobridge.rules", encoding: .utf8)))
        #expect(FileManager.default.isExecutableFile(atPath: root + "/usr/local/bin/gpiobridge"))
        #expect(try FileManager.default.attributesOfItem(atPath: root + "/etc/gpiobridge")[.posixPermissions] as? Int == 0o750)
    }

    @Test("the sysusers.d entry makes the gpiobridge user, member of the gpio and i2c groups")
    func sysusers() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-sysusers") else {
            throw HarnessError("systemd-sysusers is missing: apt-get install systemd")
        }
        let root = NSTemporaryDirectory() + "gpiobridge-sysusers-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let result = try await runProgram("/usr/bin/systemd-sysusers", ["--root=" + root, packageRoot + "/systemd/gpiobridge.sysusers"])
        #expect(result.status == 0, "\(result.output)")
        let passwd = try String(contentsOfFile: root + "/etc/passwd", encoding: .utf8)
        let group = try String(contentsOfFile: root + "/etc/group", encoding: .utf8)
        let user = passwd.split(separator: "\n").first { $0.hasPrefix("gpiobridge:") }.map {
            $0.split(separator: ":", omittingEmptySubsequences: false)
        }
        #expect(user?.last == "/usr/sbin/nologin", "\(passwd)")
        for name in ["gpio", "i2c"] {
            let members = group.split(separator: "\n").first { $0.hasPrefix(name + ":") }?.split(separator: ":", omittingEmptySubsequences: false)
                .last
            #expect(members == "gpiobridge", "group \(name): \(group)")
        }
    }

    @Test("manual writes a page per command from its help; each is clean roff and the units' pages exist")
    func manualPages() async throws {
        let directory = NSTemporaryDirectory() + "gpiobridge-man-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await run(["manual", "--output", directory])
        #expect(result.status == 0, "\(result.output)")
        let pages = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        for page in ["gpiobridge.1", "gpiobridge-agent.1", "gpiobridge-relay.1", "gpiobridge-profile.1", "gpiobridge-profile-apply.1"] {
            #expect(pages.contains(page), "missing \(page) in \(pages)")
        }
        let apply = try String(contentsOfFile: directory + "/gpiobridge-profile-apply.1", encoding: .utf8)
        let help = try await run(["profile", "apply", "--help"])
        #expect(apply.contains(#".TH "GPIOBRIDGE\-PROFILE\-APPLY" 1"#), "\(apply)")
        // The first line of help is the page's description.
        let abstract = String(help.output.split(separator: "\n").first ?? "")
        #expect(!abstract.isEmpty && apply.contains(abstract.replacingOccurrences(of: "-", with: "\\-")), "\(apply)")
        for unit in ["gpiobridge.service", "gpiobridge-relay.service"] {
            let text = try String(contentsOfFile: packageRoot + "/systemd/" + unit, encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("Documentation=man:") {
                let name = line.dropFirst("Documentation=man:".count).replacingOccurrences(of: "(1)", with: ".1")
                #expect(pages.contains(name), "\(unit) names \(line), which is not written")
            }
        }
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/groff") {
            for page in pages {
                let rendered = try await runProgram("/usr/bin/groff", ["-ww", "-z", "-man", "-Tutf8", directory + "/" + page])
                #expect(rendered.status == 0 && rendered.output.isEmpty, "\(page): \(rendered.output)")
            }
        }
    }

    @Test("the unit's hardening: its own user, the gpio and i2c groups, only the GPIO and I2C devices, a read-only system")
    func hardening() throws {
        let unit = try String(contentsOfFile: packageRoot + "/systemd/gpiobridge.service", encoding: .utf8)
        for line in [
            "Type=notify", "ExecReload=/usr/local/bin/gpiobridge reload", "Restart=on-failure", "WatchdogSec=30s",
            "User=gpiobridge", "SupplementaryGroups=gpio i2c", "DevicePolicy=closed", "DeviceAllow=char-gpiochip rw",
            "DeviceAllow=char-i2c rw", "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=",
        ] {
            #expect(unit.split(separator: "\n").contains(Substring(line)), "missing \(line)")
        }
    }

    @Test("under systemd the agent says READY=1 once it runs, then feeds the watchdog from its event loop", .needsMosquitto)
    func notify() async throws {
        try await withMosquitto { broker in
            let notify = try NotifySocket()
            let directory = NSTemporaryDirectory() + "gpiobridge-notify-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try "device: {id: notify}\noutputs: [{name: lamp, line: GPIO17}]\n".write(
                toFile: directory + "/profile.yml", atomically: true, encoding: .utf8)
            let agent = try ChildProcess(
                gpiobridge, ["agent", "--simulate"],
                environment: [
                    "GPIOBRIDGE_DIR": directory, "GPIOBRIDGE_RUN_DIR": directory, "GPIOBRIDGE_BROKER": "mqtt://127.0.0.1:\(broker.ports.plain)",
                    "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "300000",
                ], outputPath: directory + "/agent.log")
            let ready = await notify.receive(timeout: .seconds(10))
            #expect(ready?.hasPrefix("READY=1\nSTATUS=running \(directory)/profile.yml") == true, "\(ready ?? "nothing")")
            let watchdog = await notify.receive(timeout: .seconds(5))
            #expect(watchdog == "WATCHDOG=1")
            await agent.terminate()
            #expect(agent.exitStatus == 0)
        }
    }

    @Test("a profile whose line does not exist stops the agent at once with exit 1 and the location", .needsMosquitto)
    func startFailure() async throws {
        try await withMosquitto { broker in
            let directory = NSTemporaryDirectory() + "gpiobridge-fail-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try "device: {id: fail}\noutputs: [{name: lamp, line: GPIO99}]\n".write(
                toFile: directory + "/profile.yml", atomically: true, encoding: .utf8)
            let result = try await run(
                ["agent", "--simulate"],
                environment: [
                    "GPIOBRIDGE_DIR": directory, "GPIOBRIDGE_RUN_DIR": directory, "GPIOBRIDGE_BROKER": "mqtt://127.0.0.1:\(broker.ports.plain)",
                ])
            #expect(result.status == 1)
            #expect(result.output.contains("Error: \(directory)/profile.yml:2:30: outputs[0].line: no GPIO line is named GPIO99"), "\(result.output)")
        }
    }
}
