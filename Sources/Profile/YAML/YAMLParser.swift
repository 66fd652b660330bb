import CYAML

/// A YAML syntax error, with where libyaml found it.
public struct YAMLSyntaxError: Error, Sendable, Hashable {
    public var location: SourceLocation
    public var message: String
}

/// Parses YAML text into a ``YAMLNode`` tree with libyaml (the C parser that most YAML libraries
/// wrap), keeping every node's line and column. Anchors and aliases are resolved; a mapping with
/// the same key twice is refused.
public enum YAMLParser {
    /// The first document of `text`, or nil when the text holds no document.
    public static func parse(_ text: String) throws(YAMLSyntaxError) -> YAMLNode? {
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

/// Builds the tree from libyaml's events.
private struct TreeBuilder {
    enum Open {
        case mapping(entries: [(key: YAMLNode, value: YAMLNode)], pendingKey: YAMLNode?, location: SourceLocation, anchor: String?)
        case sequence(items: [YAMLNode], location: SourceLocation, anchor: String?)
    }

    var stack: [Open] = []
    var anchors: [String: YAMLNode] = [:]
    var document: YAMLNode?
    var documentDone = false

    /// Takes one event; true when parsing can stop.
    mutating func take(_ event: yaml_event_t) throws(YAMLSyntaxError) -> Bool {
        let location = SourceLocation(line: event.start_mark.line + 1, column: event.start_mark.column + 1)
        switch event.type {
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_END_EVENT:
            documentDone = true
            return true  // a profile is one document; later ones are ignored
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            let node = YAMLNode(.scalar(text, plain: scalar.style == YAML_PLAIN_SCALAR_STYLE), at: location)
            try add(node, anchor: scalar.anchor.map { String(cString: $0) })
        case YAML_ALIAS_EVENT:
            let name = String(cString: event.data.alias.anchor)
            guard var node = anchors[name] else {
                throw YAMLSyntaxError(location: location, message: "the alias *\(name) names no anchor defined before it")
            }
            node.location = location
            try add(node, anchor: nil)
        case YAML_MAPPING_START_EVENT:
            stack.append(.mapping(entries: [], pendingKey: nil, location: location,
                                  anchor: event.data.mapping_start.anchor.map { String(cString: $0) }))
        case YAML_SEQUENCE_START_EVENT:
            stack.append(.sequence(items: [], location: location, anchor: event.data.sequence_start.anchor.map { String(cString: $0) }))
        case YAML_MAPPING_END_EVENT, YAML_SEQUENCE_END_EVENT:
            switch stack.removeLast() {
            case .mapping(let entries, _, let start, let anchor):
                try add(YAMLNode(.mapping(entries), at: start), anchor: anchor)
            case .sequence(let items, let start, let anchor):
                try add(YAMLNode(.sequence(items), at: start), anchor: anchor)
            }
        default:
            break
        }
        return false
    }

    private mutating func add(_ node: YAMLNode, anchor: String?) throws(YAMLSyntaxError) {
        if let anchor { anchors[anchor] = node }
        guard let top = stack.popLast() else {
            document = node
            return
        }
        switch top {
        case .mapping(var entries, let pendingKey, let location, let mappingAnchor):
            if let key = pendingKey {
                entries.append((key, node))
                stack.append(.mapping(entries: entries, pendingKey: nil, location: location, anchor: mappingAnchor))
            } else {
                if let text = node.scalar, let first = entries.first(where: { $0.key.scalar == text }) {
                    throw YAMLSyntaxError(location: node.location,
                                          message: "the key \"\(text)\" appears twice in this mapping (first at line \(first.key.location.line))")
                }
                stack.append(.mapping(entries: entries, pendingKey: node, location: location, anchor: mappingAnchor))
            }
        case .sequence(var items, let location, let sequenceAnchor):
            items.append(node)
            stack.append(.sequence(items: items, location: location, anchor: sequenceAnchor))
        }
    }
}
