import NIOCore

/// A name/value pair carried as an MQTT 5.0 User Property.
public struct UserProperty: Hashable, Sendable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// The MQTT 5.0 properties of a packet [MQTT-2.2.2]. A nil field is absent from the wire. Read and
/// set the fields as if they were the struct's own (`properties.topicAlias = 3`).
///
/// Under MQTT 3.1.1 properties are not encoded at all. The fields live out of line, shared until
/// one is changed: most packets carry none, and a packet is copied several times between the
/// socket and its consumer, so an empty set costs a word instead of some 300 bytes each time.
@dynamicMemberLookup
public struct MQTTProperties: Hashable, Sendable {
    /// Every property, one field each.
    public struct Fields: Hashable, Sendable {
        public var payloadFormatIndicator: UInt8?
        public var messageExpiryInterval: UInt32?
        public var contentType: String?
        public var responseTopic: String?
        public var correlationData: ByteBuffer?
        public var subscriptionIdentifiers: [Int] = []
        public var sessionExpiryInterval: UInt32?
        public var assignedClientIdentifier: String?
        public var serverKeepAlive: UInt16?
        public var authenticationMethod: String?
        public var authenticationData: ByteBuffer?
        public var requestProblemInformation: UInt8?
        public var willDelayInterval: UInt32?
        public var requestResponseInformation: UInt8?
        public var responseInformation: String?
        public var serverReference: String?
        public var reasonString: String?
        public var receiveMaximum: UInt16?
        public var topicAliasMaximum: UInt16?
        public var topicAlias: UInt16?
        public var maximumQoS: UInt8?
        public var retainAvailable: UInt8?
        public var userProperties: [UserProperty] = []
        public var maximumPacketSize: UInt32?
        public var wildcardSubscriptionAvailable: UInt8?
        public var subscriptionIdentifierAvailable: UInt8?
        public var sharedSubscriptionAvailable: UInt8?

        public init() {}
    }

    /// Written only while uniquely referenced (copy on write), so sharing it between threads is safe.
    private final class Storage: @unchecked Sendable {
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var storage: Storage?

    public init() {}

    init(_ fields: Fields) {
        storage = fields == Fields() ? nil : Storage(fields)
    }

    /// All fields at once.
    public var fields: Fields { storage?.fields ?? Self.noFields }

    /// Read by every message that has no properties (most do): made once.
    private static let noFields = Fields()

    /// One field.
    public subscript<Value>(dynamicMember field: WritableKeyPath<Fields, Value>) -> Value {
        get { (storage?.fields ?? Self.noFields)[keyPath: field] }
        set {
            if storage == nil {
                storage = Storage(Fields())
            } else if !isKnownUniquelyReferenced(&storage) {
                storage = Storage(fields)
            }
            storage!.fields[keyPath: field] = newValue
        }
    }

    /// True when no property is set.
    public var isEmpty: Bool { storage.map { $0.fields == Fields() } ?? true }

    public static func == (lhs: MQTTProperties, rhs: MQTTProperties) -> Bool {
        lhs.storage === rhs.storage || lhs.fields == rhs.fields
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(fields)
    }
}

/// Property identifiers [MQTT-2.2.2.2] and the packets each may appear in.
enum PropertyID: UInt8 {
    case payloadFormatIndicator = 0x01
    case messageExpiryInterval = 0x02
    case contentType = 0x03
    case responseTopic = 0x08
    case correlationData = 0x09
    case subscriptionIdentifier = 0x0B
    case sessionExpiryInterval = 0x11
    case assignedClientIdentifier = 0x12
    case serverKeepAlive = 0x13
    case authenticationMethod = 0x15
    case authenticationData = 0x16
    case requestProblemInformation = 0x17
    case willDelayInterval = 0x18
    case requestResponseInformation = 0x19
    case responseInformation = 0x1A
    case serverReference = 0x1C
    case reasonString = 0x1F
    case receiveMaximum = 0x21
    case topicAliasMaximum = 0x22
    case topicAlias = 0x23
    case maximumQoS = 0x24
    case retainAvailable = 0x25
    case userProperty = 0x26
    case maximumPacketSize = 0x27
    case wildcardSubscriptionAvailable = 0x28
    case subscriptionIdentifierAvailable = 0x29
    case sharedSubscriptionAvailable = 0x2A
}

/// Where a property block sits: a packet type, or the will properties inside CONNECT.
enum PropertyContext: Equatable {
    case packet(MQTTPacketType)
    case will

    func allows(_ id: PropertyID) -> Bool {
        switch id {
        case .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData:
            return self == .packet(.publish) || self == .will
        case .subscriptionIdentifier:
            return self == .packet(.publish) || self == .packet(.subscribe)
        case .sessionExpiryInterval:
            return self == .packet(.connect) || self == .packet(.connack) || self == .packet(.disconnect)
        case .assignedClientIdentifier, .serverKeepAlive, .responseInformation, .maximumQoS, .retainAvailable,
            .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable, .sharedSubscriptionAvailable:
            return self == .packet(.connack)
        case .authenticationMethod, .authenticationData:
            return self == .packet(.connect) || self == .packet(.connack) || self == .packet(.auth)
        case .requestProblemInformation, .requestResponseInformation:
            return self == .packet(.connect)
        case .willDelayInterval:
            return self == .will
        case .serverReference:
            return self == .packet(.connack) || self == .packet(.disconnect)
        case .reasonString:
            switch self {
            case .will, .packet(.connect), .packet(.publish), .packet(.subscribe), .packet(.unsubscribe),
                .packet(.pingreq), .packet(.pingresp):
                return false
            default:
                return true
            }
        case .receiveMaximum, .topicAliasMaximum, .maximumPacketSize:
            return self == .packet(.connect) || self == .packet(.connack)
        case .topicAlias:
            return self == .packet(.publish)
        case .userProperty:
            return true
        }
    }
}

extension MQTTProperties {
    /// Decodes a property block: its Variable Byte Integer length, then the properties.
    static func decode(from buffer: inout ByteBuffer, context: PropertyContext) throws(MQTTDecodeError) -> MQTTProperties {
        guard let length = try buffer.readMQTTVariableByteInteger() else {
            throw .malformed("property length is truncated")
        }
        guard var block = buffer.readSlice(length: length) else {
            throw .malformed("property block of \(length) bytes is truncated")
        }
        var fields = MQTTProperties.Fields()
        var seen: Set<UInt8> = []
        while block.readableBytes > 0 {
            guard let rawID = try block.readMQTTVariableByteInteger() else {
                throw .malformed("property identifier is truncated")
            }
            guard rawID <= 0xFF, let id = PropertyID(rawValue: UInt8(rawID)) else {
                throw .malformed("unknown property identifier 0x\(String(rawID, radix: 16))")
            }
            guard context.allows(id) else {
                throw .malformed("property 0x\(hex2(id.rawValue)) is not allowed in this packet")
            }
            if id != .userProperty && id != .subscriptionIdentifier {
                guard seen.insert(id.rawValue).inserted else {
                    throw .protocolError("property 0x\(hex2(id.rawValue)) appears more than once")
                }
            }
            try fields.decodeValue(id, from: &block)
        }
        return MQTTProperties(fields)
    }

    /// Encodes the property block with its length prefix.
    func encode(into buffer: inout ByteBuffer) throws(MQTTEncodeError) {
        guard let storage else {
            buffer.writeMQTTVariableByteInteger(0)
            return
        }
        try buffer.writeMQTTLengthPrefixed(tooLong: { MQTTEncodeError("property block of \($0) bytes is too large") }) {
            (block: inout ByteBuffer) throws(MQTTEncodeError) in try storage.fields.encodeBody(into: &block)
        }
    }
}

extension MQTTProperties.Fields {
    fileprivate mutating func decodeValue(_ id: PropertyID, from block: inout ByteBuffer) throws(MQTTDecodeError) {
        switch id {
        case .payloadFormatIndicator:
            let value = try block.readMQTTByte("payload format indicator")
            guard value <= 1 else { throw .protocolError("payload format indicator must be 0 or 1") }
            payloadFormatIndicator = value
        case .messageExpiryInterval: messageExpiryInterval = try block.readMQTTUInt32("message expiry interval")
        case .contentType: contentType = try block.readMQTTString("content type")
        case .responseTopic:
            let topic = try block.readMQTTString("response topic")
            guard TopicName.isValid(topic) else { throw .protocolError("response topic is not a valid topic name") }
            responseTopic = topic
        case .correlationData: correlationData = try block.readMQTTBinary("correlation data")
        case .subscriptionIdentifier:
            guard let value = try block.readMQTTVariableByteInteger() else {
                throw .malformed("subscription identifier is truncated")
            }
            guard value > 0 else { throw .protocolError("subscription identifier 0") }
            subscriptionIdentifiers.append(value)
        case .sessionExpiryInterval: sessionExpiryInterval = try block.readMQTTUInt32("session expiry interval")
        case .assignedClientIdentifier: assignedClientIdentifier = try block.readMQTTString("assigned client identifier")
        case .serverKeepAlive: serverKeepAlive = try block.readMQTTUInt16("server keep alive")
        case .authenticationMethod: authenticationMethod = try block.readMQTTString("authentication method")
        case .authenticationData: authenticationData = try block.readMQTTBinary("authentication data")
        case .requestProblemInformation:
            let value = try block.readMQTTByte("request problem information")
            guard value <= 1 else { throw .protocolError("request problem information must be 0 or 1") }
            requestProblemInformation = value
        case .willDelayInterval: willDelayInterval = try block.readMQTTUInt32("will delay interval")
        case .requestResponseInformation:
            let value = try block.readMQTTByte("request response information")
            guard value <= 1 else { throw .protocolError("request response information must be 0 or 1") }
            requestResponseInformation = value
        case .responseInformation: responseInformation = try block.readMQTTString("response information")
        case .serverReference: serverReference = try block.readMQTTString("server reference")
        case .reasonString: reasonString = try block.readMQTTString("reason string")
        case .receiveMaximum:
            let value = try block.readMQTTUInt16("receive maximum")
            guard value > 0 else { throw .protocolError("receive maximum 0") }
            receiveMaximum = value
        case .topicAliasMaximum: topicAliasMaximum = try block.readMQTTUInt16("topic alias maximum")
        case .topicAlias:
            let value = try block.readMQTTUInt16("topic alias")
            guard value > 0 else { throw .init(.topicAliasInvalid, "topic alias 0") }
            topicAlias = value
        case .maximumQoS:
            let value = try block.readMQTTByte("maximum QoS")
            guard value <= 1 else { throw .protocolError("maximum QoS must be 0 or 1") }
            maximumQoS = value
        case .retainAvailable:
            let value = try block.readMQTTByte("retain available")
            guard value <= 1 else { throw .protocolError("retain available must be 0 or 1") }
            retainAvailable = value
        case .userProperty:
            let name = try block.readMQTTString("user property name")
            let value = try block.readMQTTString("user property value")
            userProperties.append(UserProperty(name, value))
        case .maximumPacketSize:
            let value = try block.readMQTTUInt32("maximum packet size")
            guard value > 0 else { throw .protocolError("maximum packet size 0") }
            maximumPacketSize = value
        case .wildcardSubscriptionAvailable:
            let value = try block.readMQTTByte("wildcard subscription available")
            guard value <= 1 else { throw .protocolError("wildcard subscription available must be 0 or 1") }
            wildcardSubscriptionAvailable = value
        case .subscriptionIdentifierAvailable:
            let value = try block.readMQTTByte("subscription identifier available")
            guard value <= 1 else { throw .protocolError("subscription identifier available must be 0 or 1") }
            subscriptionIdentifierAvailable = value
        case .sharedSubscriptionAvailable:
            let value = try block.readMQTTByte("shared subscription available")
            guard value <= 1 else { throw .protocolError("shared subscription available must be 0 or 1") }
            sharedSubscriptionAvailable = value
        }
    }

    fileprivate func encodeBody(into block: inout ByteBuffer) throws(MQTTEncodeError) {
        func id(_ id: PropertyID) { block.writeInteger(id.rawValue) }
        if let payloadFormatIndicator {
            id(.payloadFormatIndicator)
            block.writeInteger(payloadFormatIndicator)
        }
        if let messageExpiryInterval {
            id(.messageExpiryInterval)
            block.writeInteger(messageExpiryInterval)
        }
        if let contentType {
            id(.contentType)
            try block.writeMQTTString(contentType, field: "content type")
        }
        if let responseTopic {
            id(.responseTopic)
            try block.writeMQTTString(responseTopic, field: "response topic")
        }
        if let correlationData {
            id(.correlationData)
            try block.writeMQTTBinary(correlationData, field: "correlation data")
        }
        for identifier in subscriptionIdentifiers {
            guard identifier > 0 && identifier <= MQTTLimits.maximumVariableByteInteger else {
                throw MQTTEncodeError("subscription identifier \(identifier) is out of range 1...268435455")
            }
            id(.subscriptionIdentifier)
            block.writeMQTTVariableByteInteger(identifier)
        }
        if let sessionExpiryInterval {
            id(.sessionExpiryInterval)
            block.writeInteger(sessionExpiryInterval)
        }
        if let assignedClientIdentifier {
            id(.assignedClientIdentifier)
            try block.writeMQTTString(assignedClientIdentifier, field: "assigned client identifier")
        }
        if let serverKeepAlive {
            id(.serverKeepAlive)
            block.writeInteger(serverKeepAlive)
        }
        if let authenticationMethod {
            id(.authenticationMethod)
            try block.writeMQTTString(authenticationMethod, field: "authentication method")
        }
        if let authenticationData {
            id(.authenticationData)
            try block.writeMQTTBinary(authenticationData, field: "authentication data")
        }
        if let requestProblemInformation {
            id(.requestProblemInformation)
            block.writeInteger(requestProblemInformation)
        }
        if let willDelayInterval {
            id(.willDelayInterval)
            block.writeInteger(willDelayInterval)
        }
        if let requestResponseInformation {
            id(.requestResponseInformation)
            block.writeInteger(requestResponseInformation)
        }
        if let responseInformation {
            id(.responseInformation)
            try block.writeMQTTString(responseInformation, field: "response information")
        }
        if let serverReference {
            id(.serverReference)
            try block.writeMQTTString(serverReference, field: "server reference")
        }
        if let reasonString {
            id(.reasonString)
            try block.writeMQTTString(reasonString, field: "reason string")
        }
        if let receiveMaximum {
            id(.receiveMaximum)
            block.writeInteger(receiveMaximum)
        }
        if let topicAliasMaximum {
            id(.topicAliasMaximum)
            block.writeInteger(topicAliasMaximum)
        }
        if let topicAlias {
            id(.topicAlias)
            block.writeInteger(topicAlias)
        }
        if let maximumQoS {
            id(.maximumQoS)
            block.writeInteger(maximumQoS)
        }
        if let retainAvailable {
            id(.retainAvailable)
            block.writeInteger(retainAvailable)
        }
        for property in userProperties {
            id(.userProperty)
            try block.writeMQTTString(property.name, field: "user property name")
            try block.writeMQTTString(property.value, field: "user property value")
        }
        if let maximumPacketSize {
            id(.maximumPacketSize)
            block.writeInteger(maximumPacketSize)
        }
        if let wildcardSubscriptionAvailable {
            id(.wildcardSubscriptionAvailable)
            block.writeInteger(wildcardSubscriptionAvailable)
        }
        if let subscriptionIdentifierAvailable {
            id(.subscriptionIdentifierAvailable)
            block.writeInteger(subscriptionIdentifierAvailable)
        }
        if let sharedSubscriptionAvailable {
            id(.sharedSubscriptionAvailable)
            block.writeInteger(sharedSubscriptionAvailable)
        }
    }
}
