import CYAML

/// A YAML syntax error, with where libyaml found it.
public struct YAMLSyntaxError: Error, Sendable, Hashable {
    public var location: SourceLocation
    public var message: String
}

/// What a YAML document may hold. A profile is a few kilobytes; these bounds keep a hostile or
/// broken file from exhausting the stack, the memory or the time of whoever reads it.
public enum YAMLLimits {
    /// The largest document: 1 MiB.
    public static let maximumBytes = 1 << 20
    /// The deepest nesting of mappings and lists.
    public static let maximumDepth = 64
    /// The most nodes, counting again every node an alias repeats.
    public static let maximumNodes = 200_000
}

/// Parses YAML text into a ``YAMLNode`` tree with libyaml (the C parser that most YAML libraries
/// wrap), keeping every node's line and column. Anchors and aliases are resolved; a mapping with
/// the same key twice is refused, and so is a document over ``YAMLLimits``. Time and memory grow
/// linearly with the document.
public enum YAMLParser {
    /// The first document of `text`, or nil when the text holds no document.
    public static func parse(_ text: String) throws(YAMLSyntaxError) -> YAMLNode? {
        guard text.utf8.count <= YAMLLimits.maximumBytes else {
            throw YAMLSyntaxError(
                location: SourceLocation(line: 1, column: 1),
                message: "the file is over \(YAMLLimits.maximumBytes / 1024) KiB; a profile is a few KiB")
        }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) != 0 else {
            throw YAMLSyntaxError(location: SourceLocation(line: 1, column: 1), message: "libyaml could not start")
        }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer throws(YAMLSyntaxError) -> YAMLNode? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var builder = TreeBuilder()
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) != 0 else {
                    let mark = parser.problem_mark
                    var message = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
                    if let context = parser.context.map({ String(cString: $0) }) {
                        let start = parser.context_mark
                        message += " \(context) (started at \(start.line + 1):\(start.column + 1))"
                    }
                    throw YAMLSyntaxError(location: SourceLocation(line: mark.line + 1, column: mark.column + 1), message: message)
                }
                defer { yaml_event_delete(&event) }
                if try builder.take(event) { break }
            }
            return builder.document
        }
    }
}

/// Builds the tree from libyaml's events, counting depth and nodes as it goes. The open
/// collections are mutated in place, so each event costs constant time.
private struct TreeBuilder {
    /// A mapping or list being read.
    struct Frame {
        var isMapping: Bool
        var location: SourceLocation
        var anchor: String?
        /// The node count when it started, so its own size is known at its end.
        var nodesBefore: Int
        var entries: [(key: YAMLNode, value: YAMLNode)] = []
        /// Each key's line, to refuse a repeated key in constant time.
        var keys: [String: Int] = [:]
        var pendingKey: YAMLNode?
        var items: [YAMLNode] = []
    }

    var stack: [Frame] = []
    /// Each anchor's node and how many nodes it holds, which each alias to it adds again.
    var anchors: [String: (node: YAMLNode, size: Int)] = [:]
    var nodes = 0
    var document: YAMLNode?

    /// Takes one event; true when parsing can stop.
    mutating func take(_ event: yaml_event_t) throws(YAMLSyntaxError) -> Bool {
        let location = SourceLocation(line: event.start_mark.line + 1, column: event.start_mark.column + 1)
        switch event.type {
        case YAML_STREAM_END_EVENT, YAML_DOCUMENT_END_EVENT:
            return true  // a profile is one document; later ones are ignored
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            try count(1, at: location)
            try add(
                YAMLNode(.scalar(text, plain: scalar.style == YAML_PLAIN_SCALAR_STYLE), at: location),
                anchor: scalar.anchor.map { String(cString: $0) }, size: 1)
        case YAML_ALIAS_EVENT:
            let name = String(cString: event.data.alias.anchor)
            guard let (anchored, size) = anchors[name] else {
                throw YAMLSyntaxError(location: location, message: "the alias *\(name) names no anchor defined before it")
            }
            try count(size, at: location)
            var node = anchored
            node.location = location
            try add(node, anchor: nil, size: size)
        case YAML_MAPPING_START_EVENT, YAML_SEQUENCE_START_EVENT:
            guard stack.count < YAMLLimits.maximumDepth else {
                throw YAMLSyntaxError(location: location, message: "mappings and lists are nested deeper than \(YAMLLimits.maximumDepth) levels")
            }
            let isMapping = event.type == YAML_MAPPING_START_EVENT
            let anchor = isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor
            stack.append(Frame(isMapping: isMapping, location: location, anchor: anchor.map { String(cString: $0) }, nodesBefore: nodes))
            try count(1, at: location)
        case YAML_MAPPING_END_EVENT, YAML_SEQUENCE_END_EVENT:
            let frame = stack.removeLast()
            let node = YAMLNode(frame.isMapping ? .mapping(frame.entries) : .sequence(frame.items), at: frame.location)
            try add(node, anchor: frame.anchor, size: nodes - frame.nodesBefore)
        default:
            break
        }
        return false
    }

    private mutating func count(_ added: Int, at location: SourceLocation) throws(YAMLSyntaxError) {
        nodes += added
        guard nodes <= YAMLLimits.maximumNodes else {
            throw YAMLSyntaxError(
                location: location,
                message: "the document holds more than \(YAMLLimits.maximumNodes) nodes (each alias counts what it repeats)")
        }
    }

    private mutating func add(_ node: YAMLNode, anchor: String?, size: Int) throws(YAMLSyntaxError) {
        if let anchor { anchors[anchor] = (node, size) }
        guard !stack.isEmpty else {
            document = node
            return
        }
        let top = stack.count - 1
        if !stack[top].isMapping {
            stack[top].items.append(node)
        } else if let key = stack[top].pendingKey {
            stack[top].entries.append((key, node))
            stack[top].pendingKey = nil
        } else {
            if let text = node.scalar, let line = stack[top].keys.updateValue(node.location.line, forKey: text) {
                throw YAMLSyntaxError(location: node.location, message: "the key \"\(text)\" appears twice in this mapping (first at line \(line))")
            }
            stack[top].pendingKey = node
        }
    }
}
