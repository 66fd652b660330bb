import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Frames inbound bytes into packets with ``MQTTPacketDecoder``, skipping an oversized PUBLISH
/// without buffering it. The client decodes inside ``MQTTConnectionHandler`` (a single step per
/// frame, no pipeline hop); as a `ByteToMessageDecoder` it serves tests and the scripted broker.
struct MQTTFrameDecoder: ByteToMessageDecoder, NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = MQTTFrame
    var decoder: MQTTPacketDecoder

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try decoder.decodeFrame(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> MQTTFrame? {
        try decoder.decodeFrame(from: &buffer)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTFrame? {
        try decode(buffer: &buffer)
    }
}

/// Decodes what a connection's channel reads and hands it (packets, errors, close) to its owner
/// on the event loop. Frames are decoded here rather than by a decoder handler before it: a
/// packet then reaches the owner without being boxed in `NIOAny` and cast back.
final class MQTTConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    /// Receives the connection's events; called on the channel's event loop only.
    protocol Delegate: AnyObject {
        func connection(received packet: MQTTPacket)
        func connection(skipped publish: OversizedPublish)
        func connection(caught error: any Error)
        /// The socket read that carried the last packets is done: time to flush their answers.
        func connectionReadComplete()
        func connectionClosed()
    }

    private weak var delegate: (any Delegate)?
    private var frames: NIOSingleStepByteToMessageProcessor<MQTTFrameDecoder>
    /// After a decoding error the stream is out of step: the rest is ignored while the connection closes.
    private var failed = false

    init(decoder: MQTTPacketDecoder, delegate: any Delegate) {
        frames = NIOSingleStepByteToMessageProcessor(MQTTFrameDecoder(decoder: decoder))
        self.delegate = delegate
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        do {
            try frames.process(buffer: unwrapInboundIn(data)) { frame in
                switch frame {
                case .packet(let packet): delegate?.connection(received: packet)
                case .oversizedPublish(let publish): delegate?.connection(skipped: publish)
                }
            }
        } catch {
            failed = true
            delegate?.connection(caught: error)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.connectionReadComplete()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        delegate?.connection(caught: error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        delegate?.connectionClosed()
        context.fireChannelInactive()
    }
}

#if os(Linux)
/// Acknowledges at once a read we send nothing back for, instead of letting the kernel delay the ACK.
///
/// Linux delays an ACK by up to 40 ms on a connection it considers interactive, hoping to send it
/// with data. A broker with Nagle's algorithm on (Mosquitto's default, `set_tcp_nodelay false`)
/// holds its next small packet until its previous one is acknowledged, so a PUBACK we read and did
/// not answer stalled the next command for 40 ms. A read whose answers flush in its read-complete
/// (a command and its state) is acknowledged by that data; after any other read, TCP_QUICKACK
/// sends the pending ACK now. The kernel clears the mode again, hence every such read.
final class QuickAckHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private static let option = ChannelOptions.Types.SocketOption(level: IPPROTO_TCP, name: TCP_QUICKACK)
    private var flushed = false

    func channelReadComplete(context: ChannelHandlerContext) {
        flushed = false
        context.fireChannelReadComplete()
        // A channel that cannot take the option (not TCP) simply keeps the kernel's behaviour.
        if !flushed { try? context.channel.syncOptions?.setOption(Self.option, value: 1) }
    }

    func flush(context: ChannelHandlerContext) {
        flushed = true
        context.flush()
    }
}
#endif
