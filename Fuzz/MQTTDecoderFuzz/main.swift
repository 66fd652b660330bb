import MQTTCore
import NIOCore

/// libFuzzer entry point: decodes arbitrary bytes as a stream of packets under both protocol
/// versions. Decoding must never crash, and every packet it accepts must encode and decode back
/// to itself. The client's framing, which skips an oversized PUBLISH, must consume every byte it
/// claims to skip, fed whole or in small pieces alike.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPacketDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    for version in [MQTTVersion.v5, .v3_1_1] {
        var buffer = ByteBuffer(bytes: bytes)
        var decoder = MQTTPacketDecoder(version: version, maximumPacketSize: 2048)
        while let packet = try? decoder.decode(from: &buffer) {
            var encoded = ByteBuffer()
            do {
                try MQTTPacketEncoder(version: decoder.version).encode(packet, into: &encoded)
            } catch {
                fatalError("a decoded \(packet.type) cannot be encoded again: \(error)")
            }
            var again = MQTTPacketDecoder(version: decoder.version)
            let redecoded = try? again.decode(from: &encoded)
            precondition(redecoded == packet, "round trip changed \(packet) into \(String(describing: redecoded))")
        }
    }
    for version in [MQTTVersion.v5, .v3_1_1] {
        var whole = MQTTPacketDecoder(version: version, maximumPacketSize: 64)
        var buffer = ByteBuffer(bytes: bytes)
        var frames: [MQTTFrame] = []
        while let frame = try? whole.decodeFrame(from: &buffer) { frames.append(frame) }
        // The same bytes 7 at a time: what came out whole must come out in pieces, in order.
        var pieces = MQTTPacketDecoder(version: version, maximumPacketSize: 64)
        var pending = ByteBuffer()
        var input = ByteBuffer(bytes: bytes)
        var framesInPieces: [MQTTFrame] = []
        feeding: while let piece = input.readSlice(length: min(7, input.readableBytes)), piece.readableBytes > 0 {
            pending.writeImmutableBuffer(piece)
            while true {
                guard let frame = try? pieces.decodeFrame(from: &pending) else { break }
                framesInPieces.append(frame)
                if framesInPieces.count > frames.count { break feeding }
            }
        }
        precondition(
            Array(framesInPieces.prefix(frames.count)) == Array(frames.prefix(framesInPieces.count)),
            "framing depends on how the bytes arrive: \(frames) vs \(framesInPieces)")
    }
    return 0
}
