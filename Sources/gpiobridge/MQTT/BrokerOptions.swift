import Logging
import MQTT
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Connection flags shared by `pub` and `sub`, spelled as mosquitto_pub/mosquitto_sub spell them.
struct BrokerOptions {
    static let options: [OptionSpec] = [
        .option("-h", value: "HOST", help: "Broker host (default localhost)."),
        .option("-p", "--port", value: "PORT", help: "Broker port (default 1883, or 8883 with TLS options)."),
        .option("-u", value: "USER", help: "User name."),
        .option("-P", value: "PASSWORD", help: "Password."),
        .option("-i", value: "ID", help: "Client id (default: gpiobridge-<command>-<pid>)."),
        .option("-V", value: "VERSION", help: "MQTT version: 5 or 311 (default 5, falling back to 3.1.1 if refused)."),
        .option("-k", value: "SECONDS", help: "Keep alive in seconds (default 60)."),
        .option("--cafile", value: "FILE", help: "PEM file of the CA that signed the broker's certificate; enables TLS."),
        .option("--cert", value: "FILE", help: "PEM client certificate (mutual TLS); needs --key."),
        .option("--key", value: "FILE", help: "PEM private key of --cert."),
        .flag("--tls", help: "Use TLS with the system's trusted CAs."),
        .flag("--insecure", help: "Do not verify the broker's certificate or host name (unsafe)."),
        .flag(
            "-c", "--disable-clean-session",
            help:
                "Keep the session when disconnected: subscriptions and QoS 1/2 messages wait for the next connection with this -i (under MQTT 5 it never expires unless -x says)."
        ),
        .option("-x", value: "SECONDS", help: "MQTT 5 session expiry after disconnecting, in seconds; -1 never."),
        .option("--will-topic", value: "TOPIC", help: "The will: published by the broker if this client vanishes without disconnecting."),
        .option("--will-payload", value: "TEXT", help: "The will's payload (default empty)."),
        .option("--will-qos", value: "QOS", help: "The will's QoS: 0, 1 or 2 (default 0)."),
        .flag("--will-retain", help: "Retain the will."),
        .flag("-d", help: "Print debug messages."),
    ]

    var host: String
    var port: Int?
    var username: String?
    var password: String?
    var clientID: String?
    var protocolVersion: MQTTVersion?
    var keepAlive: UInt16
    var caFile: String?
    var certificateFile: String?
    var keyFile: String?
    var useTLS: Bool
    var insecure: Bool
    var debug: Bool
    var keepSession: Bool
    var sessionExpiry: UInt32?
    var will: WillMessage?

    init(_ arguments: ParsedArguments) throws {
        host = arguments.string("-h") ?? "localhost"
        port = try arguments.value("--port", expected: "a port (1-65535)") { Int($0).flatMap { (1...65535).contains($0) ? $0 : nil } }
        username = arguments.string("-u")
        password = arguments.string("-P")
        clientID = arguments.string("-i")
        protocolVersion = try arguments.value("-V", expected: "5 or 311") { text -> MQTTVersion? in
            switch text.lowercased() {
            case "5", "mqttv5": .v5
            case "311", "mqttv311": .v3_1_1
            default: nil
            }
        }
        keepAlive = try arguments.value("-k", expected: "a number of seconds (0-65535)") { UInt16($0) } ?? 60
        caFile = arguments.string("--cafile")
        certificateFile = arguments.string("--cert")
        keyFile = arguments.string("--key")
        useTLS = arguments.flag("--tls")
        insecure = arguments.flag("--insecure")
        debug = arguments.flag("-d")
        if (certificateFile == nil) != (keyFile == nil) { throw UsageError("--cert and --key go together") }
        keepSession = arguments.flag("--disable-clean-session")
        sessionExpiry = try arguments.value("-x", expected: "a number of seconds (0-4294967295), or -1 for never") { text -> UInt32? in
            text == "-1" || text == "∞" ? UInt32.max : UInt32(text)
        }
        if sessionExpiry != nil && protocolVersion == .v3_1_1 { throw UsageError("-x is an MQTT 5 setting; MQTT 3.1.1 keeps a session with -c only") }
        if keepSession && clientID == nil { throw UsageError("-c needs a client id (-i) to find the session again") }
        let willQoS = try arguments.value("--will-qos", expected: "0, 1 or 2") { UInt8($0).flatMap(QoS.init(rawValue:)) }
        let willRetain = arguments.flag("--will-retain")
        let willPayload = arguments.string("--will-payload")
        if let topic = arguments.string("--will-topic") {
            guard TopicName.isValid(topic) else { throw UsageError("--will-topic \(topic) is not a topic to publish to (no + or #)") }
            will = WillMessage(topic: topic, payload: ByteBuffer(string: willPayload ?? ""), qos: willQoS ?? .atMostOnce, retain: willRetain)
        } else if willPayload != nil || willQoS != nil || willRetain {
            throw UsageError("--will-payload, --will-qos and --will-retain need --will-topic")
        }
    }

    var wantsTLS: Bool { useTLS || caFile != nil || certificateFile != nil || insecure }

    func configuration(command: String) -> MQTTClientConfiguration {
        var configuration = MQTTClientConfiguration(
            host: host, port: port ?? (wantsTLS ? 8883 : 1883),
            clientID: clientID ?? "gpiobridge-\(command)-\(getpid())")
        if let protocolVersion {
            configuration.version = protocolVersion
            configuration.fallbackToV3_1_1 = false
        }
        configuration.keepAlive = keepAlive
        configuration.username = username
        configuration.password = password
        configuration.reconnect = .never
        configuration.cleanStart = !keepSession
        // As mosquitto's clients: -c alone keeps an MQTT 5 session for good.
        configuration.sessionExpiry = sessionExpiry ?? (keepSession ? UInt32.max : 0)
        configuration.will = will
        // A tool must not hang on a broker that never answers.
        configuration.answerTimeout = .seconds(10)
        if wantsTLS {
            configuration.tls = MQTTTLSOptions(
                caFile: caFile, certificateFile: certificateFile, keyFile: keyFile,
                insecure: insecure)
        }
        return configuration
    }

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = debug ? .debug : .warning
        return logger
    }
}

/// Runs `client` until `body`, started once connected, returns; then disconnects gracefully.
/// A connection error ends both and is thrown.
func withConnectedClient<T: Sendable>(_ client: MQTTClient, _ body: @escaping @Sendable () async throws -> T)
    async throws -> T
{
    try await withThrowingTaskGroup(of: ClientOutcome<T>.self) { group in
        group.addTask {
            try await client.run()
            return .stopped
        }
        group.addTask {
            for await state in client.connectionStates() {
                if state.isConnected { break }
                if case .stopped = state { return .stopped }
            }
            do {
                let value = try await body()
                client.stop()
                return .finished(value)
            } catch {
                client.stop()
                throw error
            }
        }
        var result: T?
        while let outcome = try await group.next() {
            if case .finished(let value) = outcome { result = value }
        }
        guard let result else { throw CLIError("the connection ended before the command completed") }
        return result
    }
}

private enum ClientOutcome<T: Sendable>: Sendable {
    case stopped
    case finished(T)
}
