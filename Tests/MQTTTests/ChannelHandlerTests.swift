import NIOCore
import NIOEmbedded
import Testing

@testable import MQTT
@testable import MQTTCore

@Suite("Channel handlers on an EmbeddedChannel")
struct ChannelHandlerTests {
    @Test("bytes arriving one at a time become whole packets")
    func byteByByte() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTFrameDecoder(decoder: MQTTPacketDecoder(version: .v5))))
        var encoded = ByteBuffer()
        let publish = MQTTPacket.publish(
            PublishPacket(
                topic: "a", payload: ByteBuffer(string: "xyz"), qos: .exactlyOnce,
                packetID: 4))
        try MQTTPacketEncoder(version: .v5).encode(publish, into: &encoded)
        try MQTTPacketEncoder(version: .v5).encode(.pingresp, into: &encoded)
        while let byte = encoded.readSlice(length: 1) {
            try channel.writeInbound(byte)
        }
        #expect(try channel.readInbound(as: MQTTFrame.self) == .packet(publish))
        #expect(try channel.readInbound(as: MQTTFrame.self) == .packet(.pingresp))
        #expect(try channel.readInbound(as: MQTTFrame.self) == nil)
        _ = try channel.finish()
    }

    @Test(
        "an oversized PUBLISH is reported once its head is in, its payload dropped as it arrives, and the next packet decodes",
        arguments: [MQTTVersion.v3_1_1, .v5])
    func oversizedPublish(version: MQTTVersion) throws {
        let limit = 1024
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(
                MQTTFrameDecoder(
                    decoder: MQTTPacketDecoder(version: version, maximumPacketSize: limit))))
        var encoded = ByteBuffer()
        let big = PublishPacket(
            topic: "gpiobridge/pi/fan/set", payload: ByteBuffer(repeating: 0x41, count: 100_000),
            qos: .atLeastOnce, retain: true, packetID: 9)
        try MQTTPacketEncoder(version: version).encode(.publish(big), into: &encoded)
        let size = encoded.readableBytes
        let next = MQTTPacket.publish(
            PublishPacket(
                topic: "gpiobridge/pi/fan/set", payload: ByteBuffer(string: "ON"),
                qos: .atLeastOnce, packetID: 10))
        try MQTTPacketEncoder(version: version).encode(next, into: &encoded)
        // In pieces, as a socket delivers it: the frame comes as soon as topic and id are in.
        let head = encoded.readSlice(length: 20)!
        try channel.writeInbound(head)
        #expect(try channel.readInbound(as: MQTTFrame.self) == nil, "the topic is not complete yet")
        try channel.writeInbound(encoded.readSlice(length: 20)!)
        #expect(
            try channel.readInbound(as: MQTTFrame.self)
                == .oversizedPublish(
                    OversizedPublish(
                        topic: "gpiobridge/pi/fan/set", qos: .atLeastOnce, retain: true, dup: false, packetID: 9, size: size)))
        while encoded.readableBytes > 0 {
            try channel.writeInbound(encoded.readSlice(length: min(4096, encoded.readableBytes))!)
        }
        #expect(try channel.readInbound(as: MQTTFrame.self) == .packet(next))
        #expect(try channel.readInbound(as: MQTTFrame.self) == nil)
        _ = try channel.finish()
    }

    @Test("an oversized packet other than PUBLISH is still refused")
    func oversizedOther() throws {
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(
                MQTTFrameDecoder(
                    decoder: MQTTPacketDecoder(version: .v5, maximumPacketSize: 16))))
        var encoded = ByteBuffer()
        try MQTTPacketEncoder(version: .v5).encode(
            .suback(SubscriptionAckPacket(packetID: 1, reasonCodes: Array(repeating: .success, count: 40))),
            into: &encoded)
        #expect(throws: MQTTDecodeError.self) { try channel.writeInbound(encoded) }
        _ = try? channel.finish()
    }

    @Test("a malformed packet surfaces as an MQTTDecodeError")
    func malformed() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTFrameDecoder(decoder: MQTTPacketDecoder(version: .v5))))
        #expect(throws: MQTTDecodeError.self) {
            try channel.writeInbound(ByteBuffer(bytes: [0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]))
        }
        _ = try? channel.finish()
    }
}
