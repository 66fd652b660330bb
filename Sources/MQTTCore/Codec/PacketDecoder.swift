import NIOCore

/// The head of a PUBLISH larger than the decoder accepts: enough to acknowledge it and say what
/// was skipped. Its payload is never buffered.
public struct OversizedPublish: Hashable, Sendable {
    /// The topic name; empty when a 5.0 topic alias stands for it.
    public var topic: String
    public var qos: QoS
    public var retain: Bool
    public var dup: Bool
    /// Present for QoS 1 and 2.
    public var packetID: UInt16?
    /// The whole packet's size in bytes, fixed header included.
    public var size: Int

    public init(topic: String, qos: QoS, retain: Bool, dup: Bool, packetID: UInt16?, size: Int) {
        self.topic = topic
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetID = packetID
        self.size = size
    }
}

/// What ``MQTTPacketDecoder/decodeFrame(from:)`` found next.
public enum MQTTFrame: Hashable, Sendable {
    case packet(MQTTPacket)
    /// A PUBLISH over the maximum packet size, being skipped.
    case oversizedPublish(OversizedPublish)
}

/// Turns bytes into MQTT packets, checking them against the specification. Does no I/O.
///
/// Feed it a buffer that may hold partial packets: ``decode(from:)`` returns nil until a whole
/// packet is there, and refuses a packet larger than ``maximumPacketSize`` as soon as its fixed
/// header says so, before its body is buffered. ``decodeFrame(from:)`` skips such a PUBLISH
/// instead, so that one message cannot take a client off its broker.
public struct MQTTPacketDecoder: Sendable {
    /// The protocol level of the connection. Decoding a CONNECT sets it to the CONNECT's level.
    public var version: MQTTVersion
    /// The largest packet accepted, in bytes, fixed header included.
    public var maximumPacketSize: Int
    /// Bytes of a skipped PUBLISH that have not arrived yet; they are dropped as they come.
    public private(set) var bytesToDiscard = 0

    public init(version: MQTTVersion, maximumPacketSize: Int = MQTTLimits.maximumVariableByteInteger + 5) {
        self.version = version
        self.maximumPacketSize = maximumPacketSize
    }

    /// Decodes the next packet from `buffer`, consuming its bytes, or returns nil and consumes
    /// nothing when the packet is not complete yet.
    public mutating func decode(from buffer: inout ByteBuffer) throws(MQTTDecodeError) -> MQTTPacket? {
        guard let header = try fixedHeader(buffer) else { return nil }
        return try decode(from: &buffer, header)
    }

    /// The fixed header at the start of `buffer` (not consumed), or nil until it is all there.
    private func fixedHeader(_ buffer: ByteBuffer) throws(MQTTDecodeError) -> FixedHeader? {
        var peek = buffer
        guard let first = peek.readInteger(as: UInt8.self) else { return nil }
        guard let remainingLength = try peek.readMQTTVariableByteInteger() else { return nil }
        return FixedHeader(first: first, remainingLength: remainingLength, size: peek.readerIndex - buffer.readerIndex)
    }

    private struct FixedHeader {
        var first: UInt8
        var remainingLength: Int
        var size: Int
    }

    private mutating func decode(from buffer: inout ByteBuffer, _ header: FixedHeader) throws(MQTTDecodeError) -> MQTTPacket? {
        let (first, remainingLength, headerSize) = (header.first, header.remainingLength, header.size)
        var peek = buffer
        peek.moveReaderIndex(forwardBy: headerSize)
        guard headerSize + remainingLength <= maximumPacketSize else {
            throw MQTTDecodeError(
                .packetTooLarge,
                "packet of \(headerSize + remainingLength) bytes exceeds the maximum of \(maximumPacketSize)")
        }
        guard var body = peek.readSlice(length: remainingLength) else { return nil }
        buffer.moveReaderIndex(to: peek.readerIndex)

        guard let type = MQTTPacketType(rawValue: first >> 4) else {
            throw .malformed("reserved packet type 0")
        }
        let flags = first & 0x0F
        if type != .publish && flags != type.requiredFlags {
            throw .malformed("\(type) has fixed-header flags 0x\(hex2(flags)), expected 0x\(hex2(type.requiredFlags))")
        }
        let packet = try decodeBody(type: type, flags: flags, body: &body)
        if type != .publish && body.readableBytes > 0 {
            throw .malformed("\(type) has \(body.readableBytes) bytes past its end")
        }
        return packet
    }

    /// Like ``decode(from:)``, except that a PUBLISH over ``maximumPacketSize`` is skipped: once
    /// its topic and packet id have arrived (at most 65,541 bytes), it is returned as
    /// ``MQTTFrame/oversizedPublish(_:)`` and the rest of its bytes are discarded as they come,
    /// never buffered. Other oversized packets are still refused.
    public mutating func decodeFrame(from buffer: inout ByteBuffer) throws(MQTTDecodeError) -> MQTTFrame? {
        if bytesToDiscard > 0 {
            let dropped = min(bytesToDiscard, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: dropped)
            bytesToDiscard -= dropped
            if bytesToDiscard > 0 { return nil }
        }
        guard let header = try fixedHeader(buffer) else { return nil }
        let (first, remainingLength, headerSize) = (header.first, header.remainingLength, header.size)
        guard headerSize + remainingLength > maximumPacketSize, first >> 4 == MQTTPacketType.publish.rawValue else {
            return try decode(from: &buffer, header).map(MQTTFrame.packet)
        }
        var peek = buffer
        peek.moveReaderIndex(forwardBy: headerSize)
        let flags = first & 0x0F
        guard let qos = QoS(rawValue: (flags >> 1) & 0x03) else { throw .malformed("PUBLISH with QoS 3") }
        let dup = flags & 0x08 != 0
        if qos == .atMostOnce && dup { throw .malformed("PUBLISH with QoS 0 and DUP set") }
        guard let topicLength = peek.getInteger(at: peek.readerIndex, as: UInt16.self) else { return nil }
        let headLength = 2 + Int(topicLength) + (qos == .atMostOnce ? 0 : 2)
        guard headLength <= remainingLength else { throw .malformed("PUBLISH shorter than its topic name") }
        guard peek.readableBytes >= headLength else { return nil }
        let topic = try peek.readMQTTString("topic name")
        if !(topic.isEmpty && version == .v5) && !TopicName.isValid(topic) {
            throw .malformed("topic name \"\(topic)\" is empty or contains a wildcard")
        }
        let packetID = qos == .atMostOnce ? nil : try readPacketID(&peek, .publish)
        let consumed = peek.readerIndex - buffer.readerIndex
        buffer.moveReaderIndex(to: peek.readerIndex)
        bytesToDiscard = headerSize + remainingLength - consumed
        let dropped = min(bytesToDiscard, buffer.readableBytes)
        buffer.moveReaderIndex(forwardBy: dropped)
        bytesToDiscard -= dropped
        return .oversizedPublish(
            OversizedPublish(
                topic: topic, qos: qos, retain: flags & 0x01 != 0, dup: dup,
                packetID: packetID, size: headerSize + remainingLength))
    }

    private mutating func decodeBody(type: MQTTPacketType, flags: UInt8, body: inout ByteBuffer)
        throws(MQTTDecodeError) -> MQTTPacket
    {
        switch type {
        case .connect: return .connect(try decodeConnect(&body))
        case .connack: return .connack(try decodeConnAck(&body))
        case .publish: return .publish(try decodePublish(flags: flags, &body))
        case .puback: return .puback(try decodePublishAck(type, &body))
        case .pubrec: return .pubrec(try decodePublishAck(type, &body))
        case .pubrel: return .pubrel(try decodePublishAck(type, &body))
        case .pubcomp: return .pubcomp(try decodePublishAck(type, &body))
        case .subscribe: return .subscribe(try decodeSubscribe(&body))
        case .suback: return .suback(try decodeSubscriptionAck(type, &body))
        case .unsubscribe: return .unsubscribe(try decodeUnsubscribe(&body))
        case .unsuback: return .unsuback(try decodeSubscriptionAck(type, &body))
        case .pingreq: return .pingreq
        case .pingresp: return .pingresp
        case .disconnect: return .disconnect(try decodeReasonPacket(type, &body))
        case .auth:
            guard version == .v5 else { throw .malformed("AUTH does not exist in MQTT 3.1.1") }
            return .auth(try decodeReasonPacket(type, &body))
        }
    }

    private func readPacketID(_ body: inout ByteBuffer, _ type: MQTTPacketType) throws(MQTTDecodeError) -> UInt16 {
        let id = try body.readMQTTUInt16("\(type) packet identifier")
        guard id != 0 else { throw .malformed("\(type) has packet identifier 0") }
        return id
    }

    private func readProperties(_ body: inout ByteBuffer, _ type: MQTTPacketType) throws(MQTTDecodeError) -> MQTTProperties {
        guard version == .v5 else { return MQTTProperties() }
        return try MQTTProperties.decode(from: &body, context: .packet(type))
    }

    private mutating func decodeConnect(_ body: inout ByteBuffer) throws(MQTTDecodeError) -> ConnectPacket {
        let name = try body.readMQTTString("protocol name")
        guard name == "MQTT" else { throw .malformed("protocol name \"\(name)\" is not \"MQTT\"") }
        let level = try body.readMQTTByte("protocol level")
        guard let level = MQTTVersion(rawValue: level) else {
            throw .protocolError("unsupported protocol level \(level)")
        }
        version = level
        let flags = try body.readMQTTByte("connect flags")
        guard flags & 0x01 == 0 else { throw .malformed("connect flags reserved bit is set") }
        let hasUsername = flags & 0x80 != 0
        let hasPassword = flags & 0x40 != 0
        let willRetain = flags & 0x20 != 0
        let willQoSBits = (flags >> 3) & 0x03
        let hasWill = flags & 0x04 != 0
        guard let willQoS = QoS(rawValue: willQoSBits) else { throw .malformed("will QoS 3") }
        if !hasWill && (willQoSBits != 0 || willRetain) {
            throw .malformed("will QoS or will retain set without the will flag")
        }
        if version == .v3_1_1 && hasPassword && !hasUsername {
            throw .malformed("password flag without user name flag")
        }
        let keepAlive = try body.readMQTTUInt16("keep alive")
        let properties = try readProperties(&body, .connect)
        let clientID = try body.readMQTTString("client identifier")
        var will: WillMessage?
        if hasWill {
            let willProperties =
                version == .v5
                ? try MQTTProperties.decode(from: &body, context: .will) : MQTTProperties()
            let topic = try body.readMQTTString("will topic")
            guard TopicName.isValid(topic) else { throw .malformed("will topic \"\(topic)\" is not a valid topic name") }
            let payload = try body.readMQTTBinary("will payload")
            will = WillMessage(topic: topic, payload: payload, qos: willQoS, retain: willRetain, properties: willProperties)
        }
        let username = hasUsername ? try body.readMQTTString("user name") : nil
        let password = hasPassword ? try body.readMQTTBinary("password") : nil
        return ConnectPacket(
            version: version, clientID: clientID, cleanStart: flags & 0x02 != 0, keepAlive: keepAlive,
            username: username, password: password, will: will, properties: properties)
    }

    private func decodeConnAck(_ body: inout ByteBuffer) throws(MQTTDecodeError) -> ConnAckPacket {
        let flags = try body.readMQTTByte("connack flags")
        guard flags & 0xFE == 0 else { throw .malformed("connack flags reserved bits are set") }
        let code = try body.readMQTTByte("connack reason code")
        // A 3.1.1 broker answers a 5.0 CONNECT with a two-byte 3.1.1 CONNACK; read it as one so the
        // client can fall back.
        if version == .v3_1_1 || body.readableBytes == 0 {
            guard code <= 5 else { throw .malformed("3.1.1 CONNACK return code \(code) is reserved") }
            return ConnAckPacket(sessionPresent: flags & 1 != 0, reasonCode: .fromV3ConnectReturnCode(code))
        }
        let properties = try readProperties(&body, .connack)
        return ConnAckPacket(sessionPresent: flags & 1 != 0, reasonCode: ReasonCode(rawValue: code), properties: properties)
    }

    private func decodePublish(flags: UInt8, _ body: inout ByteBuffer) throws(MQTTDecodeError) -> PublishPacket {
        guard let qos = QoS(rawValue: (flags >> 1) & 0x03) else { throw .malformed("PUBLISH with QoS 3") }
        let dup = flags & 0x08 != 0
        if qos == .atMostOnce && dup { throw .malformed("PUBLISH with QoS 0 and DUP set") }
        let topic = try body.readMQTTString("topic name")
        if !(topic.isEmpty && version == .v5) && !TopicName.isValid(topic) {
            throw .malformed("topic name \"\(topic)\" is empty or contains a wildcard")
        }
        let packetID = qos == .atMostOnce ? nil : try readPacketID(&body, .publish)
        let properties = try readProperties(&body, .publish)
        if topic.isEmpty && properties.topicAlias == nil {
            throw .protocolError("PUBLISH with an empty topic name and no topic alias")
        }
        let payload = body.readSlice(length: body.readableBytes)!
        return PublishPacket(
            topic: topic, payload: payload, qos: qos, retain: flags & 0x01 != 0, dup: dup,
            packetID: packetID, properties: properties)
    }

    private func decodePublishAck(_ type: MQTTPacketType, _ body: inout ByteBuffer) throws(MQTTDecodeError) -> PublishAckPacket {
        let packetID = try readPacketID(&body, type)
        guard version == .v5, body.readableBytes > 0 else { return PublishAckPacket(packetID: packetID) }
        let code = ReasonCode(rawValue: try body.readMQTTByte("\(type) reason code"))
        let properties = body.readableBytes > 0 ? try readProperties(&body, type) : MQTTProperties()
        return PublishAckPacket(packetID: packetID, reasonCode: code, properties: properties)
    }

    private func decodeSubscribe(_ body: inout ByteBuffer) throws(MQTTDecodeError) -> SubscribePacket {
        let packetID = try readPacketID(&body, .subscribe)
        let properties = try readProperties(&body, .subscribe)
        var subscriptions: [Subscription] = []
        while body.readableBytes > 0 {
            let rawFilter = try body.readMQTTString("topic filter")
            guard let filter = TopicFilter(rawFilter) else { throw .malformed("topic filter \"\(rawFilter)\" is invalid") }
            let options = try body.readMQTTByte("subscription options")
            let reservedMask: UInt8 = version == .v5 ? 0xC0 : 0xFC
            guard options & reservedMask == 0 else { throw .malformed("subscription options reserved bits are set") }
            guard let qos = QoS(rawValue: options & 0x03) else { throw .malformed("subscription with QoS 3") }
            guard let retainHandling = RetainHandling(rawValue: (options >> 4) & 0x03) else {
                throw .malformed("retain handling 3")
            }
            subscriptions.append(
                Subscription(
                    filter, qos: qos, noLocal: options & 0x04 != 0,
                    retainAsPublished: options & 0x08 != 0, retainHandling: retainHandling))
        }
        guard !subscriptions.isEmpty else { throw .protocolError("SUBSCRIBE without any topic filter") }
        return SubscribePacket(packetID: packetID, subscriptions: subscriptions, properties: properties)
    }

    private func decodeUnsubscribe(_ body: inout ByteBuffer) throws(MQTTDecodeError) -> UnsubscribePacket {
        let packetID = try readPacketID(&body, .unsubscribe)
        let properties = try readProperties(&body, .unsubscribe)
        var filters: [TopicFilter] = []
        while body.readableBytes > 0 {
            let rawFilter = try body.readMQTTString("topic filter")
            guard let filter = TopicFilter(rawFilter) else { throw .malformed("topic filter \"\(rawFilter)\" is invalid") }
            filters.append(filter)
        }
        guard !filters.isEmpty else { throw .protocolError("UNSUBSCRIBE without any topic filter") }
        return UnsubscribePacket(packetID: packetID, filters: filters, properties: properties)
    }

    private func decodeSubscriptionAck(_ type: MQTTPacketType, _ body: inout ByteBuffer)
        throws(MQTTDecodeError) -> SubscriptionAckPacket
    {
        let packetID = try readPacketID(&body, type)
        let properties = try readProperties(&body, type)
        var codes: [ReasonCode] = []
        while let code = body.readInteger(as: UInt8.self) {
            if version == .v3_1_1 && type == .suback && !(code <= 2 || code == 0x80) {
                throw .malformed("SUBACK return code 0x\(hex2(code)) is not defined in 3.1.1")
            }
            codes.append(ReasonCode(rawValue: code))
        }
        if version == .v3_1_1 && type == .unsuback { return SubscriptionAckPacket(packetID: packetID, reasonCodes: []) }
        guard !codes.isEmpty else { throw .protocolError("\(type) without any reason code") }
        return SubscriptionAckPacket(packetID: packetID, reasonCodes: codes, properties: properties)
    }

    private func decodeReasonPacket(_ type: MQTTPacketType, _ body: inout ByteBuffer) throws(MQTTDecodeError) -> ReasonPacket {
        guard version == .v5, body.readableBytes > 0 else { return ReasonPacket() }
        let code = ReasonCode(rawValue: try body.readMQTTByte("\(type) reason code"))
        let properties = body.readableBytes > 0 ? try readProperties(&body, type) : MQTTProperties()
        return ReasonPacket(reasonCode: code, properties: properties)
    }
}
