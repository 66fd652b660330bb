import NIOCore
import Testing

@testable import MQTT
@testable import MQTTCore

/// Encodes `packet`, decodes the bytes back, and returns both.
func roundTrip(_ packet: MQTTPacket, _ version: MQTTVersion) throws -> (bytes: [UInt8], decoded: MQTTPacket?) {
    var buffer = ByteBuffer()
    try MQTTPacketEncoder(version: version).encode(packet, into: &buffer)
    let bytes = Array(buffer.readableBytesView)
    var decoder = MQTTPacketDecoder(version: version)
    let decoded = try decoder.decode(from: &buffer)
    #expect(buffer.readableBytes == 0, "decoder left \(buffer.readableBytes) bytes")
    return (bytes, decoded)
}

func decode(_ bytes: [UInt8], _ version: MQTTVersion = .v5, maximumPacketSize: Int = 1 << 20) throws(MQTTDecodeError)
    -> MQTTPacket?
{
    var buffer = ByteBuffer(bytes: bytes)
    var decoder = MQTTPacketDecoder(version: version, maximumPacketSize: maximumPacketSize)
    return try decoder.decode(from: &buffer)
}

func decodeError(_ bytes: [UInt8], _ version: MQTTVersion = .v5, maximumPacketSize: Int = 1 << 20) -> MQTTDecodeError? {
    do {
        _ = try decode(bytes, version, maximumPacketSize: maximumPacketSize)
        return nil
    } catch {
        return error
    }
}

func fullProperties(for context: PropertyContext) -> MQTTProperties {
    var properties = MQTTProperties()
    properties.userProperties = [UserProperty("k", "v"), UserProperty("k", "w")]
    switch context {
    case .packet(.publish):
        properties.payloadFormatIndicator = 1
        properties.messageExpiryInterval = 3600
        properties.contentType = "text/plain"
        properties.responseTopic = "reply/here"
        properties.correlationData = ByteBuffer(bytes: [1, 2, 3])
        properties.subscriptionIdentifiers = [1, 268_435_455]
        properties.topicAlias = 7
    case .packet(.connect):
        properties.sessionExpiryInterval = 600
        properties.receiveMaximum = 20
        properties.maximumPacketSize = 4096
        properties.topicAliasMaximum = 10
        properties.requestProblemInformation = 1
        properties.requestResponseInformation = 0
    case .packet(.connack):
        properties.sessionExpiryInterval = 600
        properties.assignedClientIdentifier = "auto-1"
        properties.serverKeepAlive = 30
        properties.receiveMaximum = 10
        properties.maximumQoS = 1
        properties.retainAvailable = 0
        properties.maximumPacketSize = 1000
        properties.topicAliasMaximum = 5
        properties.wildcardSubscriptionAvailable = 1
        properties.subscriptionIdentifierAvailable = 0
        properties.sharedSubscriptionAvailable = 1
        properties.reasonString = "welcome"
        properties.responseInformation = "resp"
        properties.serverReference = "other:1883"
    case .will:
        properties.willDelayInterval = 5
        properties.contentType = "text/plain"
    default:
        properties.reasonString = "because"
    }
    return properties
}

@Suite("Codec: data representations")
struct DataRepresentationTests {
    @Test(
        "variable byte integers use the minimal encoding [MQTT-1.5.5]",
        arguments: [
            (0, [0x00]), (127, [0x7F]), (128, [0x80, 0x01]), (16_383, [0xFF, 0x7F]), (16_384, [0x80, 0x80, 0x01]),
            (2_097_151, [0xFF, 0xFF, 0x7F]), (2_097_152, [0x80, 0x80, 0x80, 0x01]), (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
        ] as [(Int, [UInt8])])
    func variableByteInteger(value: Int, bytes: [UInt8]) throws {
        var buffer = ByteBuffer()
        buffer.writeMQTTVariableByteInteger(value)
        #expect(Array(buffer.readableBytesView) == bytes)
        #expect(variableByteIntegerSize(value) == bytes.count)
        #expect(try buffer.readMQTTVariableByteInteger() == value)
    }

    @Test("non-minimal and five-byte variable byte integers are malformed")
    func badVariableByteIntegers() throws {
        for bytes: [UInt8] in [[0x80, 0x00], [0xFF, 0x80, 0x00], [0xFF, 0xFF, 0xFF, 0xFF, 0x7F]] {
            var buffer = ByteBuffer(bytes: bytes)
            #expect(throws: MQTTDecodeError.self) { try buffer.readMQTTVariableByteInteger() }
        }
        var partial = ByteBuffer(bytes: [0x80, 0x80])
        #expect(try partial.readMQTTVariableByteInteger() == nil)
        #expect(partial.readerIndex == 0)
    }

    @Test("strings must be well-formed UTF-8 without U+0000 [MQTT-1.5.4-1, -2]")
    func strings() throws {
        var good = ByteBuffer(bytes: [0x00, 0x03, 0x61, 0xC3, 0xA9])
        #expect(try good.readMQTTString("s") == "aé")
        let bad: [[UInt8]] = [
            [0x00, 0x02, 0xC3, 0x28],  // invalid continuation
            [0x00, 0x03, 0xED, 0xA0, 0x80],  // UTF-16 surrogate D800 encoded in UTF-8
            [0x00, 0x03, 0x61, 0x00, 0x62],  // U+0000
            [0x00, 0x05, 0x61],  // truncated
        ]
        for bytes in bad {
            var buffer = ByteBuffer(bytes: bytes)
            #expect(throws: MQTTDecodeError.self) { try buffer.readMQTTString("s") }
        }
        var long = ByteBuffer()
        #expect(throws: MQTTEncodeError.self) {
            try long.writeMQTTString(String(repeating: "x", count: 65_536), field: "s")
        }
    }
}

@Suite("Codec: packets on bytes")
struct PacketBytesTests {
    @Test("3.1.1 CONNECT matches the bytes of the specification")
    func connectV3Bytes() throws {
        let packet = MQTTPacket.connect(ConnectPacket(version: .v3_1_1, clientID: "a", cleanStart: true, keepAlive: 60))
        let (bytes, decoded) = try roundTrip(packet, .v3_1_1)
        #expect(bytes == [0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x61])
        #expect(decoded == packet)
    }

    @Test("5.0 QoS 1 PUBLISH bytes")
    func publishV5Bytes() throws {
        let packet = MQTTPacket.publish(
            PublishPacket(
                topic: "a/b", payload: ByteBuffer(string: "hi"), qos: .atLeastOnce,
                packetID: 10))
        let (bytes, decoded) = try roundTrip(packet, .v5)
        #expect(bytes == [0x32, 0x0A, 0x00, 0x03, 0x61, 0x2F, 0x62, 0x00, 0x0A, 0x00, 0x68, 0x69])
        #expect(decoded == packet)
    }

    @Test("short forms: 5.0 PUBACK success is two bytes, DISCONNECT success is empty")
    func shortForms() throws {
        #expect(try roundTrip(.puback(PublishAckPacket(packetID: 0x1234)), .v5).bytes == [0x40, 0x02, 0x12, 0x34])
        #expect(try roundTrip(.disconnect(ReasonPacket()), .v5).bytes == [0xE0, 0x00])
        #expect(
            try roundTrip(.disconnect(ReasonPacket(reasonCode: .disconnectWithWillMessage)), .v5).bytes
                == [0xE0, 0x01, 0x04])
        #expect(try roundTrip(.pingreq, .v3_1_1).bytes == [0xC0, 0x00])
        #expect(try roundTrip(.pubrel(PublishAckPacket(packetID: 1)), .v3_1_1).bytes == [0x62, 0x02, 0x00, 0x01])
    }

    @Test("a 3.1.1 CONNACK answering a 5.0 CONNECT is read as its 5.0 meaning")
    func v3ConnAckDuringV5() throws {
        #expect(
            try decode([0x20, 0x02, 0x00, 0x01], .v5)
                == .connack(ConnAckPacket(sessionPresent: false, reasonCode: .unsupportedProtocolVersion)))
        #expect(
            try decode([0x20, 0x02, 0x01, 0x04], .v3_1_1)
                == .connack(ConnAckPacket(sessionPresent: true, reasonCode: .badUserNameOrPassword)))
    }

    static let allPackets: [MQTTPacket] = {
        let will = WillMessage(
            topic: "dev/status", payload: ByteBuffer(string: "offline"), qos: .atLeastOnce, retain: true,
            properties: fullProperties(for: .will))
        let filter = TopicFilter("a/+/c")!
        return [
            .connect(
                ConnectPacket(
                    version: .v5, clientID: "client-1", cleanStart: false, keepAlive: 15, username: "u",
                    password: ByteBuffer(string: "p"), will: will,
                    properties: fullProperties(for: .packet(.connect)))),
            .connack(ConnAckPacket(sessionPresent: true, reasonCode: .success, properties: fullProperties(for: .packet(.connack)))),
            .connack(ConnAckPacket(sessionPresent: false, reasonCode: .notAuthorized)),
            .publish(
                PublishPacket(
                    topic: "x/y", payload: ByteBuffer(bytes: [0, 1, 2, 255]), qos: .exactlyOnce, retain: true,
                    dup: true, packetID: 65_535, properties: fullProperties(for: .packet(.publish)))),
            .publish(
                PublishPacket(
                    topic: "", payload: ByteBuffer(),
                    properties: {
                        var properties = MQTTProperties()
                        properties.topicAlias = 3
                        return properties
                    }())),
            .puback(PublishAckPacket(packetID: 1, reasonCode: .noMatchingSubscribers, properties: fullProperties(for: .packet(.puback)))),
            .pubrec(PublishAckPacket(packetID: 2, reasonCode: .quotaExceeded)),
            .pubrel(PublishAckPacket(packetID: 3, reasonCode: .packetIdentifierNotFound)),
            .pubcomp(PublishAckPacket(packetID: 4)),
            .subscribe(
                SubscribePacket(
                    packetID: 5,
                    subscriptions: [
                        Subscription(filter, qos: .exactlyOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend),
                        Subscription(TopicFilter("#")!, qos: .atMostOnce),
                    ],
                    properties: {
                        var properties = MQTTProperties()
                        properties.subscriptionIdentifiers = [42]
                        return properties
                    }())),
            .suback(
                SubscriptionAckPacket(
                    packetID: 5, reasonCodes: [.grantedQoS2, .notAuthorized],
                    properties: fullProperties(for: .packet(.suback)))),
            .unsubscribe(UnsubscribePacket(packetID: 6, filters: [filter, TopicFilter("$share/g/t")!])),
            .unsuback(SubscriptionAckPacket(packetID: 6, reasonCodes: [.success, .noSubscriptionExisted])),
            .pingreq, .pingresp,
            .disconnect(ReasonPacket(reasonCode: .serverShuttingDown, properties: fullProperties(for: .packet(.disconnect)))),
            .auth(
                ReasonPacket(
                    reasonCode: .continueAuthentication,
                    properties: {
                        var properties = MQTTProperties()
                        properties.authenticationMethod = "SCRAM"
                        properties.authenticationData = ByteBuffer(bytes: [9, 9])
                        return properties
                    }())),
        ]
    }()

    @Test("every 5.0 packet, with every property it may carry, survives a round trip")
    func roundTripsV5() throws {
        for packet in Self.allPackets {
            #expect(try roundTrip(packet, .v5).decoded == packet, "\(packet.type)")
        }
    }

    @Test("lengths written in place are right on both sides of each size step, for packets and property blocks, behind other bytes")
    func inPlaceLengths() throws {
        for size in [0, 1, 120, 127, 128, 129, 200, 16_383, 16_384, 16_400, 2_097_151, 2_097_152] {
            // A string holds at most 65,535 bytes: longer property blocks need many properties.
            for (payloadSize, userValueSize) in [(size, 0), (0, size)] where userValueSize <= 60_000 {
                var properties = MQTTProperties()
                // A user property adds 5 bytes around its value: name "k" (2 + 1) and the value's length (2).
                if userValueSize > 0 { properties.userProperties = [UserProperty("k", String(repeating: "v", count: userValueSize))] }
                let packet = MQTTPacket.publish(
                    PublishPacket(
                        topic: "t", payload: ByteBuffer(repeating: 0x61, count: payloadSize), qos: .atLeastOnce, packetID: 9,
                        properties: properties))
                var buffer = ByteBuffer(bytes: [0xAA, 0xBB])
                try MQTTPacketEncoder(version: .v5).encode(packet, into: &buffer)
                #expect(buffer.readSlice(length: 2).map { Array($0.readableBytesView) } == [0xAA, 0xBB], "bytes before stay")
                var expected = ByteBuffer()
                expected.writeMQTTVariableByteInteger(buffer.readableBytes - 1 - expectedLengthBytes(buffer.readableBytes))
                #expect(buffer.getSlice(at: buffer.readerIndex + 1, length: expected.readableBytes) == expected, "size \(size)")
                var decoder = MQTTPacketDecoder(version: .v5, maximumPacketSize: 1 << 24)
                #expect(try decoder.decode(from: &buffer) == packet, "payload \(payloadSize), user property \(userValueSize)")
                #expect(buffer.readableBytes == 0)
            }
        }
        /// How many bytes the remaining length takes in a packet of `total` bytes (type byte included).
        func expectedLengthBytes(_ total: Int) -> Int {
            (1...4).first { bytes in
                let remaining = total - 1 - bytes
                return remaining < 1 << (7 * bytes) && (bytes == 1 || remaining >= 1 << (7 * (bytes - 1)))
            }!
        }
    }

    @Test("3.1.1 round trips drop what 3.1.1 cannot carry")
    func roundTripsV3() throws {
        let publish = MQTTPacket.publish(
            PublishPacket(
                topic: "t", payload: ByteBuffer(string: "x"), qos: .atLeastOnce,
                retain: true, packetID: 9))
        #expect(try roundTrip(publish, .v3_1_1).decoded == publish)
        let suback = MQTTPacket.suback(SubscriptionAckPacket(packetID: 2, reasonCodes: [.grantedQoS1, .unspecifiedError]))
        #expect(try roundTrip(suback, .v3_1_1).decoded == suback)
        let unsuback = try roundTrip(.unsuback(SubscriptionAckPacket(packetID: 3, reasonCodes: [.success])), .v3_1_1)
        #expect(unsuback.bytes == [0xB0, 0x02, 0x00, 0x03])
        let connack = try roundTrip(.connack(ConnAckPacket(sessionPresent: false, reasonCode: .notAuthorized)), .v3_1_1)
        #expect(connack.bytes == [0x20, 0x02, 0x00, 0x05])
    }

    @Test("every strict prefix of a packet asks for more data and consumes nothing")
    func truncated() throws {
        for packet in Self.allPackets {
            var buffer = ByteBuffer()
            try MQTTPacketEncoder(version: .v5).encode(packet, into: &buffer)
            let bytes = Array(buffer.readableBytesView)
            for length in 0..<bytes.count {
                var prefix = ByteBuffer(bytes: bytes[0..<length])
                var decoder = MQTTPacketDecoder(version: .v5)
                #expect(try decoder.decode(from: &prefix) == nil)
                #expect(prefix.readerIndex == 0)
            }
        }
    }

    @Test("two packets in one buffer decode one after the other")
    func streaming() throws {
        var buffer = ByteBuffer()
        let encoder = MQTTPacketEncoder(version: .v5)
        try encoder.encode(.pingresp, into: &buffer)
        try encoder.encode(.puback(PublishAckPacket(packetID: 7)), into: &buffer)
        var decoder = MQTTPacketDecoder(version: .v5)
        #expect(try decoder.decode(from: &buffer) == .pingresp)
        #expect(try decoder.decode(from: &buffer) == .puback(PublishAckPacket(packetID: 7)))
        #expect(try decoder.decode(from: &buffer) == nil)
    }
}

@Suite("Codec: malformed input")
struct MalformedInputTests {
    @Test(
        "malformed packets are refused with the right reason code",
        arguments: [
            ("QoS 3 PUBLISH [MQTT-3.3.1-4]", [0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01], ReasonCode.malformedPacket),
            ("QoS 0 with DUP [MQTT-3.3.1-2]", [0x38, 0x03, 0x00, 0x01, 0x61], .malformedPacket),
            ("wildcard in a topic name [MQTT-3.3.2-2]", [0x30, 0x04, 0x00, 0x01, 0x23, 0x00], .malformedPacket),
            ("empty topic name without alias", [0x30, 0x03, 0x00, 0x00, 0x00], .protocolError),
            ("U+0000 in a topic name", [0x30, 0x06, 0x00, 0x03, 0x61, 0x00, 0x62, 0x00], .malformedPacket),
            ("packet id 0 [MQTT-2.2.1-3]", [0x40, 0x02, 0x00, 0x00], .malformedPacket),
            ("SUBSCRIBE with flags 0 [MQTT-3.8.1-1]", [0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61], .malformedPacket),
            ("reserved packet type 0", [0x00, 0x00], .malformedPacket),
            ("CONNACK reserved flag bits", [0x20, 0x03, 0x02, 0x00, 0x00], .malformedPacket),
            ("PINGRESP with a body", [0xD0, 0x01, 0x00], .malformedPacket),
            ("duplicate property", [0x40, 0x0C, 0x00, 0x01, 0x00, 0x08, 0x1F, 0x00, 0x01, 0x61, 0x1F, 0x00, 0x01, 0x62], .protocolError),
            ("property not allowed in the packet", [0x40, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01], .malformedPacket),
            ("unknown property identifier", [0x40, 0x06, 0x00, 0x01, 0x00, 0x02, 0x7F, 0x00], .malformedPacket),
            ("property length beyond the packet", [0x40, 0x05, 0x00, 0x01, 0x00, 0x09, 0x1F], .malformedPacket),
            ("topic alias 0", [0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x00, 0x78], .topicAliasInvalid),
            ("SUBACK without codes", [0x90, 0x03, 0x00, 0x01, 0x00], .protocolError),
            ("retain handling 3", [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x30], .malformedPacket),
            ("topic filter with # not last [MQTT-4.7.1-1]", [0x82, 0x09, 0x00, 0x01, 0x00, 0x00, 0x03, 0x23, 0x2F, 0x61, 0x00], .malformedPacket),
        ] as [(String, [UInt8], ReasonCode)])
    func malformedV5(name: String, bytes: [UInt8], code: ReasonCode) {
        #expect(decodeError(bytes, .v5)?.reasonCode == code, "\(name)")
    }

    @Test("3.1.1 rules: no AUTH, no trailing bytes, password needs a user name, SUBACK codes")
    func malformedV3() {
        #expect(decodeError([0xF0, 0x00], .v3_1_1)?.reasonCode == .malformedPacket)
        #expect(decodeError([0x40, 0x03, 0x00, 0x01, 0x00], .v3_1_1)?.reasonCode == .malformedPacket)
        #expect(decodeError([0x90, 0x03, 0x00, 0x01, 0x03], .v3_1_1)?.reasonCode == .malformedPacket)
        // CONNECT, level 4, flags: password (0x40) without user name.
        let connect: [UInt8] = [
            0x10, 0x10, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x42, 0x00, 0x3C,
            0x00, 0x01, 0x61, 0x00, 0x01, 0x70,
        ]
        #expect(decodeError(connect, .v3_1_1)?.reasonCode == .malformedPacket)
    }

    @Test("will flags must agree [MQTT-3.1.2-11, -13]")
    func willFlags() {
        // Will QoS 1 (0x08) without the will flag.
        let qosWithoutWill: [UInt8] = [0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x0A, 0x00, 0x3C, 0x00, 0x01, 0x61]
        #expect(decodeError(qosWithoutWill, .v3_1_1)?.reasonCode == .malformedPacket)
        // Will retain (0x20) without the will flag.
        let retainWithoutWill: [UInt8] = [0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x22, 0x00, 0x3C, 0x00, 0x01, 0x61]
        #expect(decodeError(retainWithoutWill, .v3_1_1)?.reasonCode == .malformedPacket)
        // Will QoS 3.
        let willQoS3: [UInt8] = [0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x1E, 0x00, 0x3C, 0x00, 0x01, 0x61]
        #expect(decodeError(willQoS3, .v3_1_1)?.reasonCode == .malformedPacket)
    }

    @Test("an oversize packet is refused from its header, before its body arrives")
    func oversize() {
        // PUBLISH announcing 300 bytes; only the header is here.
        let error = decodeError([0x30, 0xAC, 0x02], .v5, maximumPacketSize: 256)
        #expect(error?.kind == .packetTooLarge)
        #expect(error?.reasonCode == .packetTooLarge)
        #expect(decodeError([0x30, 0xAC, 0x02], .v5, maximumPacketSize: 303) == nil)
    }

    @Test("the encoder refuses what the spec forbids")
    func encoderRefusals() {
        let encoder = MQTTPacketEncoder(version: .v5)
        var buffer = ByteBuffer()
        #expect(throws: MQTTEncodeError.self) {
            try encoder.encode(.publish(PublishPacket(topic: "t", payload: ByteBuffer(), qos: .atMostOnce, packetID: 3)), into: &buffer)
        }
        #expect(throws: MQTTEncodeError.self) {
            try encoder.encode(.publish(PublishPacket(topic: "t", payload: ByteBuffer(), qos: .atLeastOnce)), into: &buffer)
        }
        #expect(throws: MQTTEncodeError.self) {
            try encoder.encode(.publish(PublishPacket(topic: "t", payload: ByteBuffer(), qos: .atMostOnce, dup: true)), into: &buffer)
        }
        #expect(throws: MQTTEncodeError.self) {
            try MQTTPacketEncoder(version: .v3_1_1).encode(
                .connect(
                    ConnectPacket(
                        version: .v3_1_1, clientID: "c", cleanStart: true, keepAlive: 0,
                        password: ByteBuffer(string: "p"))), into: &buffer)
        }
        #expect(throws: MQTTEncodeError.self) {
            try encoder.encode(.subscribe(SubscribePacket(packetID: 1, subscriptions: [])), into: &buffer)
        }
        #expect(buffer.readableBytes == 0)
    }
}

@Suite("Topic names and filters")
struct TopicTests {
    @Test(
        "filter validation [MQTT-4.7.1]",
        arguments: [
            ("#", true), ("a/#", true), ("+", true), ("+/+/c", true), ("a//b", true), ("/", true), ("$share/g/a/#", true),
            ("", false), ("a/#/b", false), ("a#", false), ("a/b#", false), ("a/+b", false), ("$share/g", false),
            ("$share//a", false), ("$share/g+/a", false),
        ])
    func filterValidation(filter: String, valid: Bool) {
        #expect((TopicFilter(filter) != nil) == valid)
    }

    @Test(
        "matching [MQTT-4.7]",
        arguments: [
            ("a/+", "a/b", true), ("a/+", "a/b/c", false), ("a/+", "a", false), ("a/#", "a", true), ("a/#", "a/b/c", true),
            ("+/+", "/x", true), ("+", "/x", false), ("#", "$SYS/x", false), ("+/x", "$SYS/x", false), ("$SYS/#", "$SYS/x", true),
            ("a/+/b", "a//b", true), ("a/b", "a/b", true), ("a/b", "a/B", false), ("$share/g/a/+", "a/q", true),
            ("a/+", "a/", true), ("a", "a/b", false), ("a/b/c", "a/b", false), ("/", "/", true), ("a//", "a//", true),
            ("ab/+", "a/b", false), ("#", "a/b", true), ("$share/g/#", "$SYS/x", false),
        ])
    func matching(filter: String, topic: String, matches: Bool) {
        #expect(TopicFilter(filter)!.matches(topic) == matches)
    }

    @Test("topic names are non-empty and have no wildcards [MQTT-4.7.3-1]")
    func names() {
        #expect(TopicName.isValid("a/b"))
        #expect(!TopicName.isValid(""))
        #expect(!TopicName.isValid("a/+"))
        #expect(!TopicName.isValid("#"))
    }
}
