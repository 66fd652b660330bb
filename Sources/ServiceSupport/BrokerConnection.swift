import MQTT
import Profile

#if canImport(Glibc)
import Glibc
#endif

/// A broker named on the command line or in `GPIOBRIDGE_BROKER`: `mqtt://host:port` or
/// `mqtts://host:port`. It replaces the profile's host and port (and says whether to use TLS).
public struct BrokerURL: Sendable, Equatable {
    public var tls: Bool
    public var host: String
    public var port: Int

    public init?(_ text: String) {
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
        guard !rest.isEmpty, !rest.contains("/") else { return nil }
        self.tls = tls
        self.host = String(rest)
        self.port = port
    }
}

/// Why the broker password could not be read.
public struct PasswordError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

extension PasswordSource {
    /// Reads the password: an environment variable, the first line of a file, or a systemd
    /// credential from `$CREDENTIALS_DIRECTORY`.
    public func read() throws(PasswordError) -> String {
        switch self {
        case .environment(let name):
            guard let value = getenv(name) else { throw PasswordError(description: "the broker password comes from $\(name), which is not set") }
            return String(cString: value)
        case .file(let path):
            return try Self.firstLine(of: path, what: "the password file")
        case .credential(let name):
            guard let directory = getenv("CREDENTIALS_DIRECTORY") else {
                throw PasswordError(
                    description:
                        "the broker password is the systemd credential \(name), but $CREDENTIALS_DIRECTORY is not set (add LoadCredential= to the unit)"
                )
            }
            return try Self.firstLine(of: String(cString: directory) + "/" + name, what: "the credential")
        }
    }

    private static func firstLine(of path: String, what: String) throws(PasswordError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PasswordError(description: "cannot read \(what) \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = Glibc.read(fd, &buffer, buffer.count)
        guard count >= 0 else { throw PasswordError(description: "cannot read \(what) \(path): \(String(cString: strerror(errno)))") }
        return String(decoding: buffer[..<count].prefix { $0 != 0x0A && $0 != 0x0D }, as: UTF8.self)
    }
}

extension BrokerSettings {
    /// The client configuration for `broker` (or `override`): the password from its source, a
    /// persistent session when the settings keep one, and `will`.
    public static func clientConfiguration(_ broker: BrokerSettings, will: WillMessage?, override: BrokerURL? = nil) throws(PasswordError)
        -> MQTTClientConfiguration
    {
        var configuration = MQTTClientConfiguration(
            host: override?.host ?? broker.host, port: override?.port ?? broker.port,
            clientID: broker.clientID)
        if let version = broker.version {
            configuration.version = version
            configuration.fallbackToV3_1_1 = false
        }
        configuration.keepAlive = UInt16(broker.keepAliveSeconds)
        configuration.username = broker.username
        configuration.password = try broker.password?.read()
        // A session that outlives a reconnect keeps the QoS 1/2 commands sent while we were away.
        configuration.cleanStart = broker.sessionExpirySeconds == 0
        configuration.sessionExpiry = broker.sessionExpirySeconds
        configuration.will = will
        configuration.reconnect = .exponentialBackoff(
            initial: .milliseconds(broker.reconnectMinimumMilliseconds),
            maximum: .milliseconds(broker.reconnectMaximumMilliseconds))
        let tls = broker.tls.map {
            MQTTTLSOptions(caFile: $0.caFile, certificateFile: $0.certificateFile, keyFile: $0.keyFile, insecure: $0.insecure)
        }
        switch override?.tls {
        case true?: configuration.tls = tls ?? MQTTTLSOptions()
        case false?: configuration.tls = nil
        case nil: configuration.tls = tls
        }
        return configuration
    }
}
