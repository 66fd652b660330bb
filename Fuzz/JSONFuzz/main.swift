import JSON

/// libFuzzer entry point for the JSON parser, which reads every command and every board
/// announcement: parsing must never crash or recurse without bound, and whatever it accepts must
/// serialize to text that parses back to the same value. Excerpts must stay within their bound.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let value = try? JSONValue(parsing: text) {
        let again = try? JSONValue(parsing: value.serialized)
        precondition(again == value, "round trip changed \(value) into \(String(describing: again))")
    }
    precondition(leadingBytes(of: text).utf8.count <= 64, "an excerpt is over 64 bytes")
    return 0
}
