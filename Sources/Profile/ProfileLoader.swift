import Hardware
import JSON
import MQTTCore
import Scheme

#if canImport(Glibc)
import Glibc
#endif

/// Reads and validates profiles.
public enum ProfileLoader {
    /// Reads the profile at `path`. A file that cannot be read, bad YAML and invalid settings all
    /// throw ``ProfileError`` with locations. With `checkingFiles`, the files it names (CA,
    /// certificate, key, password file) must exist; `profile show` reads a profile without them.
    public static func load(path: String, checkingFiles: Bool = true) throws(ProfileError) -> Profile {
        try decode(try read(path, what: "profile"), file: path, checkingFiles: checkingFiles)
    }

    /// Reads the profile at `path` as if it were installed at `installedPath`: relative file
    /// paths are taken beside the installed copy, where the agent will look for them, while
    /// issues name `path`, the file the user wrote.
    public static func load(path: String, installedAt installedPath: String) throws(ProfileError) -> Profile {
        do {
            var profile = try decode(try read(path, what: "profile"), file: installedPath)
            profile.source = path
            return profile
        } catch {
            throw ProfileError(
                issues: error.issues.map { issue in
                    var issue = issue
                    if issue.file == installedPath { issue.file = path }
                    return issue
                })
        }
    }

    /// Validates profile `text`; `file` names it in issues.
    public static func decode(_ text: String, file: String, checkingFiles: Bool = true) throws(ProfileError) -> Profile {
        let root = try document(text, file: file, emptyHint: "start from one of the examples in Profiles/")
        let decoder = ProfileDecoder(file: file, checksFiles: checkingFiles)
        return try decoder.finish(decoder.profile(root))
    }

    /// The YAML document of `text`; a syntax error or an empty file is a located issue.
    static func document(_ text: String, file: String, emptyHint: String) throws(ProfileError) -> YAMLNode {
        let start = SourceLocation(line: 1, column: 1)
        do {
            guard let document = try YAMLParser.parse(text) else {
                throw ProfileError(issues: [ProfileIssue(file: file, location: start, path: "", message: "the profile is empty", hint: emptyHint)])
            }
            return document
        } catch let error as YAMLSyntaxError {
            throw ProfileError(issues: [ProfileIssue(file: file, location: error.location, path: "", message: "YAML: \(error.message)")])
        } catch let error as ProfileError {
            throw error
        } catch {
            throw ProfileError(issues: [ProfileIssue(file: file, location: start, path: "", message: "\(error)")])
        }
    }

    /// Reads a file, or says why not as an issue of `what`.
    static func read(_ path: String, what: String) throws(ProfileError) -> String {
        do {
            return try readTextFile(path)
        } catch {
            throw ProfileError(issues: [
                ProfileIssue(
                    file: path, location: SourceLocation(line: 1, column: 1), path: "",
                    message: "cannot read the \(what): \(error)")
            ])
        }
    }
}

/// The file as UTF-8 text; past `limit` bytes reading stops (a profile over the YAML limit is
/// refused without reading all of it).
func readTextFile(_ path: String, limit: Int = YAMLLimits.maximumBytes + 1) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw SystemError(errno: errno) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count < 0 {
            if errno == EINTR { continue }
            throw SystemError(errno: errno)
        }
        if count == 0 { break }
        bytes += buffer[..<count]
        if bytes.count >= limit { break }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// An errno, described by strerror.
struct SystemError: Error, CustomStringConvertible {
    let errno: Int32
    var description: String { String(cString: strerror(errno)) }
}
