import Agent
import Hardware
import Logging
import MQTT
import Profile
import ServiceLifecycle
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
        .flag("--simulate", help: "Use a simulated chip with a Raspberry Pi's line names instead of the real GPIO (for the demo)."),
        .option("--log-level", value: "LEVEL", help: "trace, debug, info (default), notice, warning or error."),
    ]

    static var defaultProfilePath: String {
        (getenv("GPIOBRIDGE_DIR").map { String(cString: $0) } ?? "/etc/gpiobridge") + "/profile.yml"
    }

    let profilePath: String
    let brokerOverride: BrokerURL?
    let simulate: Bool
    let logLevel: Logger.Level

    init(_ arguments: ParsedArguments) throws {
        profilePath = arguments.string("--profile") ?? Self.defaultProfilePath
        let url = arguments.string("--broker") ?? getenv("GPIOBRIDGE_BROKER").map { String(cString: $0) }
        brokerOverride = try url.map { text in
            guard let url = BrokerURL(text) else { throw UsageError("--broker: \"\(text)\" is not mqtt://host[:port] or mqtts://host[:port]") }
            return url
        }
        simulate = arguments.flag("--simulate")
        logLevel = try arguments.value("--log-level", expected: "trace, debug, info, notice, warning or error") { Logger.Level(rawValue: $0) } ?? .info
    }

    func run() async throws {
        let profile = try ProfileCommand.load(profilePath)
        let level = logLevel
        let logger = Logger(label: "agent") { LineLogHandler(label: $0, level: level) }
        let client = try MQTTClient(configuration: try clientConfiguration(profile), logger: Logger(label: "mqtt") {
            LineLogHandler(label: $0, level: level)
        })
        let hardware = simulate ? Self.simulatedHardware() : try AgentHardware.system(expanders: profile.expanders)
        let agent = Agent(profile: profile, client: client, hardware: hardware, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: client), .init(service: agent)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// The profile's broker settings, the override, and the password from its source.
    func clientConfiguration(_ profile: Profile) throws -> MQTTClientConfiguration {
        let broker = profile.broker
        var configuration = MQTTClientConfiguration(host: brokerOverride?.host ?? broker.host,
                                                    port: brokerOverride?.port ?? broker.port, clientID: broker.clientID)
        if let version = broker.version {
            configuration.version = version
            configuration.fallbackToV3_1_1 = false
        }
        configuration.keepAlive = UInt16(broker.keepAliveSeconds)
        configuration.username = broker.username
        configuration.password = try broker.password.map(Self.readPassword)
        // A session that outlives a reconnect keeps the QoS 1/2 commands sent while we were away.
        configuration.cleanStart = broker.sessionExpirySeconds == 0
        configuration.sessionExpiry = broker.sessionExpirySeconds
        configuration.will = Agent.will(for: profile)
        let tls = broker.tls.map { MQTTTLSOptions(caFile: $0.caFile, certificateFile: $0.certificateFile, keyFile: $0.keyFile, insecure: $0.insecure) }
        switch brokerOverride?.tls {
        case true?: configuration.tls = tls ?? MQTTTLSOptions()
        case false?: configuration.tls = nil
        case nil: configuration.tls = tls
        }
        return configuration
    }

    static func readPassword(_ source: PasswordSource) throws -> String {
        switch source {
        case .environment(let name):
            guard let value = getenv(name) else { throw CLIError("the broker password comes from $\(name), which is not set") }
            return String(cString: value)
        case .file(let path):
            return try firstLine(of: path, what: "the password file")
        case .credential(let name):
            guard let directory = getenv("CREDENTIALS_DIRECTORY") else {
                throw CLIError("the broker password is the systemd credential \(name), but $CREDENTIALS_DIRECTORY is not set (LoadCredential= in the unit)")
            }
            return try firstLine(of: String(cString: directory) + "/" + name, what: "the credential")
        }
    }

    private static func firstLine(of path: String, what: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError("cannot read \(what) \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fd, &buffer, buffer.count)
        guard count >= 0 else { throw CLIError("cannot read \(what) \(path): \(String(cString: strerror(errno)))") }
        return String(decoding: buffer[..<count].prefix { $0 != 0x0A && $0 != 0x0D }, as: UTF8.self)
    }

    /// A chip named like a Raspberry Pi's header (GPIO0...GPIO27) and an empty I²C bus.
    static func simulatedHardware() -> AgentHardware {
        let chip = SimulatedChip(name: "gpiochip0", label: "gpiobridge-simulated", lineNames: (0...27).map { "GPIO\($0)" })
        let bus = SimulatedI2CBus(number: 1)
        return AgentHardware(chips: GPIOChips(chips: [chip]), openBus: { _ in bus })
    }
}

/// `mqtt://host:port` or `mqtts://host:port`.
struct BrokerURL: Sendable {
    var tls: Bool
    var host: String
    var port: Int

    init?(_ text: String) {
        let tls: Bool
        var rest: Substring
        if text.hasPrefix("mqtts://") {
            tls = true
            rest = text.dropFirst(8)
        } else if text.hasPrefix("mqtt://") {
            tls = false
            rest = text.dropFirst(7)
        } else {
            return nil
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var port = tls ? 8883 : 1883
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let number = Int(rest[rest.index(after: colon)...]), (1...65535).contains(number) else { return nil }
            port = number
            rest = rest[..<colon]
        }
        if rest.hasPrefix("[") && rest.hasSuffix("]") { rest = rest.dropFirst().dropLast() }
        guard !rest.isEmpty else { return nil }
        self.tls = tls
        self.host = String(rest)
        self.port = port
    }
}
