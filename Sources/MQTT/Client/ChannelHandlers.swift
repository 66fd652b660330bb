import NIOCore

/// Frames inbound bytes into packets with ``MQTTPacketDecoder``; decode errors go down the pipeline.
struct MQTTFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = MQTTPacket
    var decoder: MQTTPacketDecoder

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let packet = try decoder.decode(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(packet))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Encodes outbound packets with ``MQTTPacketEncoder``.
struct MQTTFrameEncoder: MessageToByteEncoder {
    typealias OutboundIn = MQTTPacket
    let encoder: MQTTPacketEncoder

    func encode(data: MQTTPacket, out: inout ByteBuffer) throws {
        try encoder.encode(data, into: &out)
    }
}

/// Hands what a connection's channel sees (packets, errors, close) to its owner on the event loop.
final class MQTTConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = MQTTPacket

    /// Receives the connection's events; called on the channel's event loop only.
    protocol Delegate: AnyObject {
        func connection(received packet: MQTTPacket)
        func connection(caught error: any Error)
        func connectionClosed()
    }

    private weak var delegate: (any Delegate)?

    init(delegate: any Delegate) {
        self.delegate = delegate
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        delegate?.connection(received: unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        delegate?.connection(caught: error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        delegate?.connectionClosed()
        context.fireChannelInactive()
    }
}
