import NIOCore
import NIOEmbedded
import Testing

@testable import MQTT

@Suite("Channel handlers on an EmbeddedChannel")
struct ChannelHandlerTests {
    @Test("bytes arriving one at a time become whole packets")
    func byteByByte() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTFrameDecoder(decoder: MQTTPacketDecoder(version: .v5))))
        var encoded = ByteBuffer()
        let publish = MQTTPacket.publish(PublishPacket(topic: "a", payload: ByteBuffer(string: "xyz"), qos: .exactlyOnce,
                                                       packetID: 4))
        try MQTTPacketEncoder(version: .v5).encode(publish, into: &encoded)
        try MQTTPacketEncoder(version: .v5).encode(.pingresp, into: &encoded)
        while let byte = encoded.readSlice(length: 1) {
            try channel.writeInbound(byte)
        }
        #expect(try channel.readInbound(as: MQTTPacket.self) == publish)
        #expect(try channel.readInbound(as: MQTTPacket.self) == .pingresp)
        #expect(try channel.readInbound(as: MQTTPacket.self) == nil)
        _ = try channel.finish()
    }

    @Test("a malformed packet surfaces as an MQTTDecodeError")
    func malformed() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(MQTTFrameDecoder(decoder: MQTTPacketDecoder(version: .v5))))
        #expect(throws: MQTTDecodeError.self) {
            try channel.writeInbound(ByteBuffer(bytes: [0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]))
        }
        _ = try? channel.finish()
    }

    @Test("the encoder handler writes the packet's bytes")
    func encoder() throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(MQTTFrameEncoder(encoder: MQTTPacketEncoder(version: .v3_1_1))))
        try channel.writeOutbound(MQTTPacket.pingreq)
        let bytes = try channel.readOutbound(as: ByteBuffer.self)
        #expect(bytes.map { Array($0.readableBytesView) } == [0xC0, 0x00])
        _ = try channel.finish()
    }
}
