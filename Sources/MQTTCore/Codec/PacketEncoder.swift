import NIOCore

/// Turns MQTT packets into bytes for one protocol level. Does no I/O.
///
/// Properties are written only for MQTT 5.0; under 3.1.1 they are dropped, and reason codes are
/// translated or left out as 3.1.1 requires.
public struct MQTTPacketEncoder: Sendable {
    public var version: MQTTVersion

    public init(version: MQTTVersion) {
        self.version = version
    }

    /// Appends the encoded packet to `out`. On error nothing is appended.
    public func encode(_ packet: MQTTPacket, into out: inout ByteBuffer) throws(MQTTEncodeError) {
        let start = out.writerIndex
        var flags: UInt8 = packet.type.requiredFlags
        if case .publish(let publish) = packet {
            flags = (publish.dup ? 0x08 : 0) | (publish.qos.rawValue << 1) | (publish.retain ? 0x01 : 0)
        }
        out.writeInteger(packet.type.rawValue << 4 | flags)
        // A large payload is not moved to make room for its length.
        var atLeast = 0
        if case .publish(let publish) = packet { atLeast = 2 + publish.topic.utf8.count + publish.payload.readableBytes }
        do {
            let tooLong = { (length: Int) in MQTTEncodeError("\(packet.type) of \(length) bytes exceeds the MQTT maximum of 268435455") }
            try out.writeMQTTLengthPrefixed(atLeast: atLeast, tooLong: tooLong) { (out: inout ByteBuffer) throws(MQTTEncodeError) in
                try encodeBody(packet, into: &out)
            }
        } catch {
            out.moveWriterIndex(to: start)
            throw error
        }
    }

    private func encodeBody(_ packet: MQTTPacket, into out: inout ByteBuffer) throws(MQTTEncodeError) {
        switch packet {
        case .connect(let connect): try encodeConnect(connect, into: &out)
        case .connack(let connack): try encodeConnAck(connack, into: &out)
        case .publish(let publish):
            try encodePublishHeader(publish, into: &out)
            out.writeImmutableBuffer(publish.payload)
        case .puback(let ack), .pubrec(let ack), .pubrel(let ack), .pubcomp(let ack):
            try encodePublishAck(ack, into: &out)
        case .subscribe(let subscribe): try encodeSubscribe(subscribe, into: &out)
        case .suback(let ack): try encodeSubscriptionAck(ack, type: .suback, into: &out)
        case .unsubscribe(let unsubscribe): try encodeUnsubscribe(unsubscribe, into: &out)
        case .unsuback(let ack): try encodeSubscriptionAck(ack, type: .unsuback, into: &out)
        case .pingreq, .pingresp: break
        case .disconnect(let reason): try encodeReasonPacket(reason, into: &out)
        case .auth(let reason):
            guard version == .v5 else { throw MQTTEncodeError("AUTH does not exist in MQTT 3.1.1") }
            try encodeReasonPacket(reason, into: &out)
        }
    }

    private func writeProperties(_ properties: MQTTProperties, into buffer: inout ByteBuffer) throws(MQTTEncodeError) {
        guard version == .v5 else { return }
        try properties.encode(into: &buffer)
    }

    private func encodeConnect(_ connect: ConnectPacket, into buffer: inout ByteBuffer) throws(MQTTEncodeError) {
        try buffer.writeMQTTString("MQTT", field: "protocol name")
        buffer.writeInteger(version.rawValue)
        var flags: UInt8 = connect.cleanStart ? 0x02 : 0
        if let will = connect.will {
            flags |= 0x04 | (will.qos.rawValue << 3) | (will.retain ? 0x20 : 0)
        }
        if connect.password != nil {
            if version == .v3_1_1 && connect.username == nil {
                throw MQTTEncodeError("MQTT 3.1.1 does not allow a password without a user name")
            }
            flags |= 0x40
        }
        if connect.username != nil { flags |= 0x80 }
        buffer.writeInteger(flags)
        buffer.writeInteger(connect.keepAlive)
        try writeProperties(connect.properties, into: &buffer)
        try buffer.writeMQTTString(connect.clientID, field: "client identifier")
        if let will = connect.will {
            guard TopicName.isValid(will.topic) else {
                throw MQTTEncodeError("will topic \"\(will.topic)\" is empty or contains a wildcard")
            }
            try writeProperties(will.properties, into: &buffer)
            try buffer.writeMQTTString(will.topic, field: "will topic")
            try buffer.writeMQTTBinary(will.payload, field: "will payload")
        }
        if let username = connect.username { try buffer.writeMQTTString(username, field: "user name") }
        if let password = connect.password { try buffer.writeMQTTBinary(password, field: "password") }
    }

    private func encodeConnAck(_ connack: ConnAckPacket, into buffer: inout ByteBuffer) throws(MQTTEncodeError) {
        buffer.writeInteger(UInt8(connack.sessionPresent ? 1 : 0))
        if version == .v3_1_1 {
            buffer.writeInteger(connack.reasonCode.v3ConnectReturnCode)
        } else {
            buffer.writeInteger(connack.reasonCode.rawValue)
            try writeProperties(connack.properties, into: &buffer)
        }
    }

    private func encodePublishHeader(_ publish: PublishPacket, into buffer: inout ByteBuffer) throws(MQTTEncodeError) {
        if publish.qos == .atMostOnce {
            guard publish.packetID == nil else { throw MQTTEncodeError("a QoS 0 PUBLISH carries no packet identifier") }
            guard !publish.dup else { throw MQTTEncodeError("a QoS 0 PUBLISH cannot have DUP set") }
        }
        try buffer.writeMQTTString(publish.topic, field: "topic name")
        if publish.qos != .atMostOnce {
            guard let packetID = publish.packetID, packetID != 0 else {
                throw MQTTEncodeError("a QoS \(publish.qos) PUBLISH needs a non-zero packet identifier")
            }
            buffer.writeInteger(packetID)
        }
        try writeProperties(publish.properties, into: &buffer)
    }

    private func encodePublishAck(_ ack: PublishAckPacket, into buffer: inout ByteBuffer) throws(MQTTEncodeError) {
        buffer.writeInteger(ack.packetID)
        guard version == .v5 else { return }
        // The short forms are allowed when there is nothing more to say [MQTT-3.4.2.1].
        if ack.reasonCode == .success && ack.properties.isEmpty { return }
        buffer.writeInteger(ack.reasonCode.rawValue)
        if !ack.properties.isEmpty { try writeProperties(ack.properties, into: &buffer) }
    }

    private func encodeSubscribe(_ subscribe: SubscribePacket, into buffer: inout ByteBuffer) throws(MQTTEncodeError) {
        guard !subscribe.subscriptions.isEmpty else { throw MQTTEncodeError("SUBSCRIBE needs at least one topic filter") }
        buffer.writeInteger(subscribe.packetID)
        try writeProperties(subscribe.properties, into: &buffer)
        for subscription in subscribe.subscriptions {
            try buffer.writeMQTTString(subscription.filter.rawValue, field: "topic filter")
            var options = subscription.qos.rawValue
            if version == .v5 {
                if subscription.noLocal { options |= 0x04 }
                if subscription.retainAsPublished { options |= 0x08 }
                options |= subscription.retainHandling.rawValue << 4
            }
            buffer.writeInteger(options)
        }
    }

    private func encodeUnsubscribe(_ unsubscribe: UnsubscribePacket, into buffer: inout ByteBuffer) throws(MQTTEncodeError) {
        guard !unsubscribe.filters.isEmpty else { throw MQTTEncodeError("UNSUBSCRIBE needs at least one topic filter") }
        buffer.writeInteger(unsubscribe.packetID)
        try writeProperties(unsubscribe.properties, into: &buffer)
        for filter in unsubscribe.filters {
            try buffer.writeMQTTString(filter.rawValue, field: "topic filter")
        }
    }

    private func encodeSubscriptionAck(_ ack: SubscriptionAckPacket, type: MQTTPacketType, into buffer: inout ByteBuffer)
        throws(MQTTEncodeError)
    {
        buffer.writeInteger(ack.packetID)
        if version == .v3_1_1 && type == .unsuback { return }
        try writeProperties(ack.properties, into: &buffer)
        for code in ack.reasonCodes { buffer.writeInteger(code.rawValue) }
    }

    private func encodeReasonPacket(_ packet: ReasonPacket, into buffer: inout ByteBuffer) throws(MQTTEncodeError) {
        guard version == .v5 else { return }
        if packet.reasonCode == .success && packet.properties.isEmpty { return }
        buffer.writeInteger(packet.reasonCode.rawValue)
        if !packet.properties.isEmpty { try writeProperties(packet.properties, into: &buffer) }
    }
}
