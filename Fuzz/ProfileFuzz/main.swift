import Profile

/// libFuzzer entry point for the profile loader (libyaml, the tree builder and the decoder): any
/// text must end in a profile or in located issues, never a crash, unbounded recursion or an
/// issue without a place in the file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProfile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        _ = try ProfileLoader.decode(text, file: "fuzz.yml")
    } catch {
        precondition(!error.issues.isEmpty, "a refused profile with no issue")
        for issue in error.issues {
            precondition(issue.location.line >= 1 && issue.location.column >= 1, "an issue without a place: \(issue)")
        }
    }
    return 0
}
