/// A position in a YAML file, 1-based, as editors show it.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "\(line):\(column)" }
}

/// A YAML node with where it starts in the file. Scalars stay text: the profile decoder gives them
/// a type from the key they belong to, so `ON` is a string for a payload and a boolean nowhere.
public struct YAMLNode: Sendable {
    public indirect enum Kind: Sendable {
        /// `plain` is false for quoted and block scalars, which are never null.
        case scalar(String, plain: Bool)
        /// Entries in file order; keys are unique (the parser refuses duplicates).
        case mapping([(key: YAMLNode, value: YAMLNode)])
        case sequence([YAMLNode])
    }

    public var kind: Kind
    public var location: SourceLocation

    public init(_ kind: Kind, at location: SourceLocation) {
        self.kind = kind
        self.location = location
    }

    /// The text of a scalar, or nil for a mapping or sequence.
    public var scalar: String? {
        if case .scalar(let text, _) = kind { return text }
        return nil
    }

    /// True for `~`, `null` and an empty plain scalar.
    public var isNull: Bool {
        if case .scalar(let text, true) = kind { return text.isEmpty || text == "~" || text.lowercased() == "null" }
        return false
    }

    /// What the node is, for error messages: "a mapping", "a list", "the text \"abc\"".
    public var summary: String {
        switch kind {
        case .scalar(let text, _): isNull ? "nothing" : "\"\(text.count > 40 ? text.prefix(40) + "..." : Substring(text))\""
        case .mapping: "a mapping"
        case .sequence: "a list"
        }
    }
}
