import Logging
import MQTT
import Profile
import Relay
import Scheme
import ServiceLifecycle
import ServiceSupport

#if canImport(Glibc)
import Glibc
#endif

/// `gpiobridge relay`: mirror a relay profile's ESP8266 boards into the gpiobridge topic scheme.
struct RelayCommand: Command {
    static let name = "relay"
    static let abstract = "Run the relay: mirror Tasmota, ESPHome and plain PubSubClient boards into gpiobridge topics."
    static let discussion = """
        The fleet broker in the profile can be overridden with --broker or GPIOBRIDGE_BROKER, and
        the boards' broker with --boards-broker (mqtt://host:port, or mqtts://host:port for TLS).
        With --check the profile is only validated.
        """
    static let options = [
        OptionSpec.option("--profile", value: "FILE", help: "The relay profile (default \(AgentCommand.profileDirectory)/relay.yml)."),
        .option("--broker", value: "URL", help: "Use this fleet broker instead of the profile's."),
        .option("--boards-broker", value: "URL", help: "Use this broker for the boards instead of the profile's."),
        .flag("--check", help: "Validate the profile and exit: 0 if valid, 2 if not."),
        .option("--log-level", value: "LEVEL", help: "trace, debug, info (default), notice, warning or error."),
    ]

    let profilePath: String
    let fleetOverride: BrokerURL?
    let boardsOverride: BrokerURL?
    let check: Bool
    let logLevel: Logger.Level

    init(_ arguments: ParsedArguments) throws {
        profilePath = arguments.string("--profile") ?? AgentCommand.profileDirectory + "/relay.yml"
        fleetOverride = try brokerURL("--broker", arguments.string("--broker") ?? getenv("GPIOBRIDGE_BROKER").map { String(cString: $0) })
        boardsOverride = try brokerURL("--boards-broker", arguments.string("--boards-broker"))
        check = arguments.flag("--check")
        logLevel =
            try arguments.value("--log-level", expected: "trace, debug, info, notice, warning or error") { Logger.Level(rawValue: $0) } ?? .info
    }

    /// Reads a relay profile; an invalid one is printed with every issue and exits 2.
    /// Loads the relay profile, or prints every issue and exits 2. With `checkingFiles`, the
    /// files it names must exist.
    static func load(_ path: String, checkingFiles: Bool = true) throws -> RelayProfile {
        try ProfileCommand.loadOrExit(path, what: "relay profile") { (path) throws(ProfileError) in
            try ProfileLoader.loadRelay(path: path, checkingFiles: checkingFiles)
        }
    }

    func run() async throws {
        let profile = try Self.load(profilePath)
        if check {
            printOut("\(profilePath): a valid relay profile with \(profile.boards.count) boards")
            return
        }
        let level = logLevel
        let logger = Logger(label: "relay") { LineLogHandler(label: $0, level: level) }
        let mqttLogger = Logger(label: "mqtt") { LineLogHandler(label: $0, level: level) }
        let configurations = try RelayService.clientConfigurations(for: profile, fleetOverride: fleetOverride, boardsOverride: boardsOverride)
        for warning in FleetCheck.warnings(agents: [], relays: [profile]) { logger.warning("\(warning)") }
        let relay = try RelayService(profile: profile, configurations: configurations, logger: logger, clientLogger: mqttLogger)
        // Stopped in reverse order: the relay (every board offline), then the clients.
        let services = relay.services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await runNotifyingSystemd(group, status: "relaying \(profile.source)", ping: { await relay.ping() })
    }
}
