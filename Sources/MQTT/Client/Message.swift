import NIOCore

/// An application message: what is published and what a subscription receives.
public struct MQTTMessage: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    /// MQTT 5.0 properties: message expiry, content type, response topic, user properties and,
    /// on received messages, the subscription identifiers that matched.
    public var properties: MQTTProperties
    /// Set on a received message that exceeded the client's maximum packet size: the packet's
    /// size. Its payload was skipped (it is empty here) and the message was acknowledged.
    public var skippedPacketSize: Int?

    public init(
        topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }

    public init(
        topic: String, payload: String, qos: QoS = .atMostOnce, retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.init(topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain, properties: properties)
    }

    /// The payload read as UTF-8 (invalid sequences replaced).
    public var payloadString: String { String(decoding: payload.readableBytesView, as: UTF8.self) }
}

/// Facts about a live connection, from CONNACK.
public struct MQTTConnectionInfo: Sendable, Hashable {
    public var version: MQTTVersion
    public var sessionPresent: Bool
    /// The client id in use (the broker's Assigned Client Identifier when we sent an empty one).
    public var clientID: String
    /// The keep alive in force, in seconds (the broker's Server Keep Alive wins).
    public var keepAlive: UInt16
}

/// Where the client stands; observed through ``MQTTClient/connectionStates()``.
public enum MQTTConnectionState: Sendable, CustomStringConvertible {
    /// Not started yet.
    case idle
    /// Attempt number `attempt` (from 1) is under way.
    case connecting(attempt: Int)
    case connected(MQTTConnectionInfo)
    /// The last attempt or connection failed; the next attempt starts after `delay`.
    case waitingToReconnect(delay: Duration, lastError: MQTTConnectionError)
    /// The client stopped; it does not connect again.
    case stopped

    public var isConnected: Bool {
        if case .connected = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .idle: "idle"
        case .connecting(let attempt): "connecting (attempt \(attempt))"
        case .connected(let info): "connected (MQTT \(info.version), session present: \(info.sessionPresent))"
        case .waitingToReconnect(let delay, let error):
            (delay == .zero ? "reconnecting now" : "reconnecting in \(delay.formattedSeconds)") + " after: \(error)"
        case .stopped: "stopped"
        }
    }
}

/// Where a client hands what the broker sends, instead of ``MQTTClient/messages``: called on the
/// client's event loop, in order, as each message is decoded and as the connection changes. A
/// consumer that lives on that loop handles a message with no thread hop and no stream between.
/// The calls must not block: line I/O of a few microseconds is fine, a sensor read is not.
public struct MQTTDelivery: Sendable {
    /// A message from the broker (or a skipped one, with ``MQTTMessage/skippedPacketSize`` set).
    public var message: @Sendable (MQTTMessage) -> Void
    /// The connection's new state.
    public var connection: @Sendable (MQTTConnectionState) -> Void

    public init(message: @escaping @Sendable (MQTTMessage) -> Void, connection: @escaping @Sendable (MQTTConnectionState) -> Void) {
        self.message = message
        self.connection = connection
    }
}

extension PublishPacket {
    /// The packet that carries `message`.
    init(_ message: MQTTMessage) {
        self.init(topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain, properties: message.properties)
    }
}
