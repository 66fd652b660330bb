import ArgumentParser
import Logging
import MQTT

#if canImport(Glibc)
import Glibc
#endif

/// Connection flags shared by `pub` and `sub`, spelled as mosquitto_pub/mosquitto_sub spell them.
struct BrokerOptions: ParsableArguments {
    @Option(name: .customShort("h"), help: "Broker host.")
    var host = "localhost"

    @Option(name: .shortAndLong, help: "Broker port (default 1883, or 8883 with TLS options).")
    var port: Int?

    @Option(name: .customShort("u"), help: "User name.")
    var username: String?

    @Option(name: .customShort("P"), help: "Password.")
    var password: String?

    @Option(name: .customShort("i"), help: "Client id (default: gpiobridge-<command>-<pid>).")
    var clientID: String?

    @Option(name: .customShort("V"), help: "MQTT version: 5 or 311 (default 5, falling back to 3.1.1 if refused).")
    var protocolVersion: ProtocolVersionArgument?

    @Option(name: .customShort("k"), help: "Keep alive in seconds.")
    var keepAlive: UInt16 = 60

    @Option(name: .customLong("cafile"), help: "PEM file of the CA that signed the broker's certificate; enables TLS.")
    var caFile: String?

    @Option(name: .customLong("cert"), help: "PEM client certificate (mutual TLS); needs --key.")
    var certificateFile: String?

    @Option(name: .customLong("key"), help: "PEM private key of --cert.")
    var keyFile: String?

    @Flag(name: .customLong("tls"), help: "Use TLS with the system's trusted CAs.")
    var useTLS = false

    @Flag(name: .customLong("insecure"), help: "Do not verify the broker's certificate or host name (unsafe).")
    var insecure = false

    @Flag(name: .customShort("d"), help: "Print debug messages.")
    var debug = false

    var wantsTLS: Bool { useTLS || caFile != nil || certificateFile != nil || insecure }

    func configuration(command: String) -> MQTTClientConfiguration {
        var configuration = MQTTClientConfiguration(
            host: host, port: port ?? (wantsTLS ? 8883 : 1883),
            clientID: clientID ?? "gpiobridge-\(command)-\(getpid())")
        if let protocolVersion {
            configuration.version = protocolVersion.version
            configuration.fallbackToV3_1_1 = false
        }
        configuration.keepAlive = keepAlive
        configuration.username = username
        configuration.password = password
        configuration.reconnect = .never
        if wantsTLS {
            configuration.tls = MQTTTLSOptions(caFile: caFile, certificateFile: certificateFile, keyFile: keyFile,
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

enum ProtocolVersionArgument: String, ExpressibleByArgument {
    case v5 = "5"
    case v311 = "311"
    case mqttv5
    case mqttv311

    var version: MQTTVersion {
        switch self {
        case .v5, .mqttv5: .v5
        case .v311, .mqttv311: .v3_1_1
        }
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

/// A message for the user, printed as `Error: ...`, with exit code 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Prints `Error: <what happened>` for errors a user can act on, and exits non-zero.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        var standardError = StandardError()
        print("Error: \(error)", to: &standardError)
        throw ExitCode.failure
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var text = string
        text.withUTF8 { bytes in _ = Glibc.write(2, bytes.baseAddress, bytes.count) }
    }
}
