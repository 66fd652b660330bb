import MQTT
import NIOCore

/// libFuzzer entry point: decodes arbitrary bytes as a stream of packets under both protocol
/// versions. Decoding must never crash, and every packet it accepts must encode and decode back
/// to itself.
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
    return 0
}
