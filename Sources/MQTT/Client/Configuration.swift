import NIOCore

/// TLS settings for a broker connection.
public struct MQTTTLSOptions: Sendable, Hashable {
    /// PEM file of the CA(s) that signed the broker's certificate; nil trusts the system store.
    public var caFile: String?
    /// PEM client certificate for mutual TLS; needs ``keyFile``.
    public var certificateFile: String?
    /// PEM private key of ``certificateFile``.
    public var keyFile: String?
    /// Skips certificate and hostname verification. Logged as a warning on every connection.
    public var insecure: Bool
    /// Name to send as SNI and to verify the certificate against; defaults to the host, and is
    /// not sent for an IP address (the certificate then needs an IP SAN).
    public var serverName: String?

    public init(
        caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, insecure: Bool = false,
        serverName: String? = nil
    ) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.insecure = insecure
        self.serverName = serverName
    }
}

/// When the client connects again after losing the broker.
public enum MQTTReconnectPolicy: Sendable, Hashable {
    /// Never: ``MQTTClient/run()`` throws the first connection error (command-line tools).
    case never
    /// Forever (daemons), as ``ReconnectSchedule`` says: a lost connection at once, then, while the
    /// broker cannot be reached, exponential backoff with jitter between `initial` and `maximum`;
    /// a broker that refuses or drops us is backed off on a slower track of its own.
    case exponentialBackoff(initial: Duration, maximum: Duration)

    /// Short bounds, right for a broker on the same network: back within about `maximum` of its return.
    public static let standard = MQTTReconnectPolicy.exponentialBackoff(initial: .milliseconds(100), maximum: .seconds(2))
}

/// Everything ``MQTTClient`` needs to reach and talk to a broker.
public struct MQTTClientConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// The protocol to try first.
    public var version: MQTTVersion = .v5
    // swift-format-ignore: AlwaysUseLowerCamelCase
    /// With ``version`` 5.0: connect again with 3.1.1 when the broker refuses 5.0.
    public var fallbackToV3_1_1 = true
    public var clientID: String
    /// Clean Start of the first connection. Reconnects ask to resume the session when it can
    /// outlive the connection (``sessionExpiry`` above 0 in 5.0, or `cleanStart` false in 3.1.1).
    public var cleanStart = true
    /// 5.0 Session Expiry Interval in seconds; 0 ends the session with the connection.
    public var sessionExpiry: UInt32 = 0
    /// Keep alive in seconds; 0 disables it.
    public var keepAlive: UInt16 = 60
    public var username: String?
    public var password: String?
    public var will: WillMessage?
    public var tls: MQTTTLSOptions?
    /// Limit for TCP connect, TLS handshake and CONNACK together.
    public var connectTimeout: Duration = .seconds(10)
    /// Limit for the broker's answer to a publish (PUBACK, PUBREC, PUBCOMP), a subscribe or an
    /// unsubscribe, for tools that must not hang; nil (daemons) waits across reconnects.
    public var answerTimeout: Duration?
    public var reconnect: MQTTReconnectPolicy = .standard
    /// Largest inbound packet accepted; announced to 5.0 brokers, enforced for both versions.
    public var maximumPacketSize: Int = 1 << 20
    /// Our Receive Maximum: inbound QoS 2 messages the broker may have unacknowledged at once; more
    /// is a protocol error that ends the connection. The default is the protocol's largest (what a
    /// 3.1.1 broker, which is never told, assumes): Mosquitto 2.0.11 resends every message of a
    /// session it restored from persistence at once, whatever the limit, and a smaller one turned
    /// each reconnect after a broker restart into a disconnect, for ever. Packet ids bound the
    /// state it keeps (65,535 ids).
    public var receiveMaximum: UInt16 = 65_535
    /// Inbound topic aliases the broker may use.
    public var topicAliasMaximum: UInt16 = 32
    /// Use topic aliases for repeated outbound topics when the broker allows them.
    public var useTopicAliases = true
    /// QoS 1/2 messages kept while disconnected or beyond the broker's Receive Maximum.
    public var maximumQueuedMessages = 10_000
    /// User properties sent in CONNECT (5.0).
    public var connectUserProperties: [UserProperty] = []

    public init(host: String, port: Int, clientID: String) {
        self.host = host
        self.port = port
        self.clientID = clientID
    }
}
