import NIOCore

/// A will message, published by the broker when the connection ends without DISCONNECT 0x00.
public struct WillMessage: Hashable, Sendable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    public var properties: MQTTProperties

    public init(
        topic: String, payload: ByteBuffer, qos: QoS = .atLeastOnce, retain: Bool = true,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}

/// CONNECT [MQTT-3.1].
public struct ConnectPacket: Hashable, Sendable {
    public var version: MQTTVersion
    public var clientID: String
    /// Clean Start (5.0) or Clean Session (3.1.1).
    public var cleanStart: Bool
    /// Seconds; 0 disables keep alive.
    public var keepAlive: UInt16
    public var username: String?
    public var password: ByteBuffer?
    public var will: WillMessage?
    public var properties: MQTTProperties

    public init(
        version: MQTTVersion, clientID: String, cleanStart: Bool, keepAlive: UInt16,
        username: String? = nil, password: ByteBuffer? = nil, will: WillMessage? = nil,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.version = version
        self.clientID = clientID
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.username = username
        self.password = password
        self.will = will
        self.properties = properties
    }
}

/// CONNACK [MQTT-3.2]. A 3.1.1 return code is carried as its 5.0 reason code.
public struct ConnAckPacket: Hashable, Sendable {
    public var sessionPresent: Bool
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties

    public init(sessionPresent: Bool, reasonCode: ReasonCode, properties: MQTTProperties = MQTTProperties()) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// PUBLISH [MQTT-3.3].
public struct PublishPacket: Hashable, Sendable {
    /// The topic name; empty only when a Topic Alias stands for it.
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    public var dup: Bool
    /// Present exactly when `qos` is above 0 [MQTT-2.2.1-2].
    public var packetID: UInt16?
    public var properties: MQTTProperties

    public init(
        topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false, dup: Bool = false,
        packetID: UInt16? = nil, properties: MQTTProperties = MQTTProperties()
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetID = packetID
        self.properties = properties
    }
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP: a packet id, a reason code and properties [MQTT-3.4 to 3.7].
public struct PublishAckPacket: Hashable, Sendable {
    public var packetID: UInt16
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties

    public init(packetID: UInt16, reasonCode: ReasonCode = .success, properties: MQTTProperties = MQTTProperties()) {
        self.packetID = packetID
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// How retained messages are sent when a subscription is made (5.0).
public enum RetainHandling: UInt8, Sendable, Hashable {
    case sendOnSubscribe = 0
    case sendOnSubscribeIfNew = 1
    case doNotSend = 2
}

/// One topic filter of a SUBSCRIBE with its options.
public struct Subscription: Hashable, Sendable {
    public var filter: TopicFilter
    public var qos: QoS
    public var noLocal: Bool
    public var retainAsPublished: Bool
    public var retainHandling: RetainHandling

    public init(
        _ filter: TopicFilter, qos: QoS = .atLeastOnce, noLocal: Bool = false, retainAsPublished: Bool = false,
        retainHandling: RetainHandling = .sendOnSubscribe
    ) {
        self.filter = filter
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }
}

/// SUBSCRIBE [MQTT-3.8].
public struct SubscribePacket: Hashable, Sendable {
    public var packetID: UInt16
    public var subscriptions: [Subscription]
    public var properties: MQTTProperties

    public init(packetID: UInt16, subscriptions: [Subscription], properties: MQTTProperties = MQTTProperties()) {
        self.packetID = packetID
        self.subscriptions = subscriptions
        self.properties = properties
    }
}

/// SUBACK or UNSUBACK: one reason code per requested filter [MQTT-3.9, 3.11].
///
/// A 3.1.1 UNSUBACK carries no codes; the decoder leaves `reasonCodes` empty.
public struct SubscriptionAckPacket: Hashable, Sendable {
    public var packetID: UInt16
    public var reasonCodes: [ReasonCode]
    public var properties: MQTTProperties

    public init(packetID: UInt16, reasonCodes: [ReasonCode], properties: MQTTProperties = MQTTProperties()) {
        self.packetID = packetID
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

/// UNSUBSCRIBE [MQTT-3.10].
public struct UnsubscribePacket: Hashable, Sendable {
    public var packetID: UInt16
    public var filters: [TopicFilter]
    public var properties: MQTTProperties

    public init(packetID: UInt16, filters: [TopicFilter], properties: MQTTProperties = MQTTProperties()) {
        self.packetID = packetID
        self.filters = filters
        self.properties = properties
    }
}

/// DISCONNECT [MQTT-3.14] or AUTH [MQTT-3.15]: a reason code and properties.
public struct ReasonPacket: Hashable, Sendable {
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties

    public init(reasonCode: ReasonCode = .success, properties: MQTTProperties = MQTTProperties()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// Any MQTT control packet.
public enum MQTTPacket: Hashable, Sendable {
    case connect(ConnectPacket)
    case connack(ConnAckPacket)
    case publish(PublishPacket)
    case puback(PublishAckPacket)
    case pubrec(PublishAckPacket)
    case pubrel(PublishAckPacket)
    case pubcomp(PublishAckPacket)
    case subscribe(SubscribePacket)
    case suback(SubscriptionAckPacket)
    case unsubscribe(UnsubscribePacket)
    case unsuback(SubscriptionAckPacket)
    case pingreq
    case pingresp
    case disconnect(ReasonPacket)
    case auth(ReasonPacket)

    /// The fixed-header type code.
    public var type: MQTTPacketType {
        switch self {
        case .connect: .connect
        case .connack: .connack
        case .publish: .publish
        case .puback: .puback
        case .pubrec: .pubrec
        case .pubrel: .pubrel
        case .pubcomp: .pubcomp
        case .subscribe: .subscribe
        case .suback: .suback
        case .unsubscribe: .unsubscribe
        case .unsuback: .unsuback
        case .pingreq: .pingreq
        case .pingresp: .pingresp
        case .disconnect: .disconnect
        case .auth: .auth
        }
    }
}
