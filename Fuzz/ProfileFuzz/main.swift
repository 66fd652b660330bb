import Profile

/// libFuzzer entry point for the profile loader (libyaml, the tree builder and the decoder): any
/// text must end in a profile or in located issues, never a crash, unbounded recursion or an
/// issue without a place in the file; an accepted one must survive `profile show` and loading again.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProfile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        // The files a profile names are not looked for: the input decides nothing on this machine.
        let profile = try ProfileLoader.decode(text, file: "fuzz.yml", checkingFiles: false)
        // What `profile show` prints must load again and show the same.
        let shown = profile.resolvedDescription
        let again: Profile
        do { again = try ProfileLoader.decode(shown, file: "shown.yml", checkingFiles: false) } catch {
            preconditionFailure("profile show printed what validate refuses:\n\(shown)\n\(error)")
        }
        precondition(
            again.resolvedDescription.split(separator: "\n").dropFirst() == shown.split(separator: "\n").dropFirst(),
            "showing the shown profile changed it:\n\(shown)")
    } catch {
        precondition(!error.issues.isEmpty, "a refused profile with no issue")
        for issue in error.issues {
            precondition(issue.location.line >= 1 && issue.location.column >= 1, "an issue without a place: \(issue)")
        }
    }
    return 0
}
