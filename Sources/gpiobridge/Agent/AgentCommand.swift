import Agent
import Hardware
import Logging
import MQTT
import Profile
import Scheme
import ServiceLifecycle
import ServiceSupport
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `gpiobridge agent`: run a profile in the foreground (systemd runs it the same way).
struct AgentCommand: Command {
    static let name = "agent"
    static let abstract = "Run the agent: drive the profile's lines from MQTT until stopped."
    static let discussion = """
        The broker in the profile can be overridden with --broker or GPIOBRIDGE_BROKER
        (mqtt://host:port, or mqtts://host:port for TLS).
        """
    static let options = [
        OptionSpec.option("--profile", value: "FILE", help: "The profile (default \(defaultProfilePath))."),
        .option("--broker", value: "URL", help: "Use this broker instead of the profile's: mqtt://host:port or mqtts://host:port."),
        .flag(
            "--simulate",
            help:
                "Use a simulated chip with a Raspberry Pi's line names instead of the real GPIO, and a simulated BME280 for each bme280 sensor (for the demo)."
        ),
        .option("--log-level", value: "LEVEL", help: "trace, debug, info (default), notice, warning or error."),
        AgentCommand.instanceOption,
    ]

    static let instanceOption = OptionSpec.option(
        "--instance", value: "NAME", help: "One of several agents (gpiobridge@NAME): its profile is NAME.yml and its socket NAME.sock.")

    /// `$GPIOBRIDGE_DIR`, or /etc/gpiobridge: where `profile apply` installs profiles.
    static var profileDirectory: String {
        getenv("GPIOBRIDGE_DIR").map { String(cString: $0) } ?? "/etc/gpiobridge"
    }

    static var defaultProfilePath: String { profilePath(instance: nil) }

    static func profilePath(instance: String?) -> String { profileDirectory + "/" + (instance ?? "profile") + ".yml" }

    let profilePath: String
    let instance: String?
    let brokerOverride: BrokerURL?
    let simulate: Bool
    let logLevel: Logger.Level

    init(_ arguments: ParsedArguments) throws {
        instance = arguments.string("--instance")
        profilePath = arguments.string("--profile") ?? Self.profilePath(instance: instance)
        brokerOverride = try brokerURL("--broker", arguments.string("--broker") ?? getenv("GPIOBRIDGE_BROKER").map { String(cString: $0) })
        simulate = arguments.flag("--simulate")
        logLevel =
            try arguments.value("--log-level", expected: "trace, debug, info, notice, warning or error") { Logger.Level(rawValue: $0) } ?? .info
    }

    func run() async throws {
        let profile = try ProfileCommand.load(profilePath)
        // Before the broker, the lines or the socket: a second agent for this profile stops here.
        do {
            try AgentLock.acquire(path: AgentLock.path(instance: instance))
        } catch {
            throw CLIError("\(error)")
        }
        let level = logLevel
        let logger = Logger(label: "agent") { LineLogHandler(label: $0, level: level) }
        let simulatedChip = simulate ? Self.simulatedChip() : nil
        let hardware =
            try simulatedChip.map { chip in
                let bus = SimulatedI2CBus(number: 1)
                for sensor in profile.sensors where sensor.model == .bme280 { bus.attachBME280(at: sensor.address) }
                return AgentHardware(chips: GPIOChips(chips: [chip]), openBus: { _ in bus })
            } ?? AgentHardware.system(expanders: profile.expanders)
        let agent = try Agent(
            profile: profile, configuration: try Agent.clientConfiguration(for: profile, override: brokerOverride),
            hardware: hardware, logger: logger, clientLogger: Logger(label: "mqtt") { LineLogHandler(label: $0, level: level) })
        let control = ControlServer(
            path: ControlSocket.path(instance: instance), logger: logger,
            handler: agent.controlHandler(simulatedChip: simulatedChip))
        // Stopped in reverse order: the control socket, then the agent (offline, safe states), then the client.
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: agent.client), .init(service: agent), .init(service: control)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        // Ready once the event loop turns; then the watchdog is fed from that loop, so a stuck agent is restarted.
        try await runNotifyingSystemd(group, status: "running \(profile.source)", ping: { await agent.ping() }) {
            // SIGHUP reloads the profile file, as `systemctl reload` and `gpiobridge reload` do.
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                if case .refused(let error) = await agent.controlHandler()(.reload) { logger.error("reload failed: \(error)") }
            }
        }
    }

    /// A chip named like a Raspberry Pi's header: GPIO0...GPIO27.
    static func simulatedChip() -> SimulatedChip {
        SimulatedChip(name: "gpiochip0", label: "gpiobridge-simulated", lineNames: (0...27).map { "GPIO\($0)" })
    }
}
