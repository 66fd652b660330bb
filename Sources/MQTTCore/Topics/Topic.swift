/// Rules for topic names, which a PUBLISH carries [MQTT-4.7].
public enum TopicName {
    /// A topic name is non-empty, at most 65535 bytes, and has no wildcard [MQTT-4.7.3-1, 3.3.2-2].
    public static func isValid(_ topic: String) -> Bool {
        let utf8 = topic.utf8
        guard !utf8.isEmpty, utf8.count <= MQTTLimits.maximumStringLength else { return false }
        return !utf8.contains(UInt8(ascii: "+")) && !utf8.contains(UInt8(ascii: "#")) && !utf8.contains(0)
    }

    /// Whether `text` can stand for one or more whole levels inside topics others build from it (a
    /// board's Topic, a node's prefix): a valid topic name, at most 256 bytes, with no empty level.
    /// Such text from a profile or a board's announcement can neither widen a subscription nor
    /// make one topic stand for another.
    public static func isPlainPrefix(_ text: String) -> Bool {
        isValid(text) && text.utf8.count <= 256 && !text.split(separator: "/", omittingEmptySubsequences: false).contains { $0.isEmpty }
    }
}

/// A subscription's topic filter: validation and matching against topic names [MQTT-4.7].
public struct TopicFilter: Hashable, Sendable, CustomStringConvertible {
    /// The filter as written, including any `$share/<group>/` prefix.
    public let rawValue: String
    /// The levels that are matched against topic names (the part after a shared-subscription prefix).
    private let levels: [Substring]

    /// Creates a filter after checking the wildcard rules: `#` alone in the last level, `+` alone in
    /// its level, non-empty [MQTT-4.7.1-1, -2, 4.7.3-1], and a well-formed `$share/<group>/<filter>`.
    public init?(_ rawValue: String) {
        let utf8 = rawValue.utf8
        guard !utf8.isEmpty, utf8.count <= MQTTLimits.maximumStringLength, !utf8.contains(0) else { return nil }
        var filterPart = Substring(rawValue)
        if rawValue.hasPrefix("$share/") {
            let rest = rawValue.dropFirst("$share/".count)
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            let group = rest[..<slash]
            guard !group.isEmpty, !group.contains("+"), !group.contains("#") else { return nil }
            filterPart = rest[rest.index(after: slash)...]
            guard !filterPart.isEmpty else { return nil }
        }
        let levels = filterPart.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains("#") && (level != "#" || index != levels.count - 1) { return nil }
            if level.contains("+") && level != "+" { return nil }
        }
        self.rawValue = rawValue
        self.levels = levels
    }

    /// Whether a PUBLISH on `topic` is delivered to a subscription with this filter.
    ///
    /// Wildcards in the first level never match a topic that starts with `$` [MQTT-4.7.2-1].
    public func matches(_ topic: String) -> Bool {
        var topicLevels = topic.split(separator: "/", omittingEmptySubsequences: false)[...]
        if topic.hasPrefix("$"), let first = levels.first, first == "+" || first == "#" { return false }
        for level in levels {
            if level == "#" { return true }
            guard let topicLevel = topicLevels.popFirst() else { return false }
            if level != "+" && level != topicLevel { return false }
        }
        return topicLevels.isEmpty
    }

    public var description: String { rawValue }
}
