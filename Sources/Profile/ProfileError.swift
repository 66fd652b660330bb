/// One thing wrong with a profile: where, which setting, what, and how to fix it.
public struct ProfileIssue: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var location: SourceLocation
    /// The setting's key path, such as `outputs[2].line`; empty for the file as a whole.
    public var path: String
    public var message: String
    public var hint: String?

    public init(file: String, location: SourceLocation, path: String, message: String, hint: String? = nil) {
        self.file = file
        self.location = location
        self.path = path
        self.message = message
        self.hint = hint
    }

    /// `relay.yml:12:11: outputs[2].line: no GPIO line is named GPIO71 (fix: ...)`.
    public var description: String {
        "\(file):\(location): \(path.isEmpty ? "" : path + ": ")\(message)\(hint.map { " (fix: \($0))" } ?? "")"
    }
}

/// A profile that cannot run, with every issue found.
public struct ProfileError: Error, Sendable, CustomStringConvertible {
    public var issues: [ProfileIssue]

    public init(issues: [ProfileIssue]) {
        self.issues = issues
    }

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}
