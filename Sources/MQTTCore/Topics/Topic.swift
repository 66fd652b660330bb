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
    /// Where the levels matched against topic names start (after a shared-subscription prefix).
    /// Only this index is kept: a relay holds thousands of filters, and split levels cost 135 bytes each.
    private let levelsStart: String.Index

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
        self.levelsStart = filterPart.startIndex
    }

    /// Whether a PUBLISH on `topic` is delivered to a subscription with this filter.
    ///
    /// Wildcards in the first level never match a topic that starts with `$` [MQTT-4.7.2-1].
    public func matches(_ topic: String) -> Bool {
        let filter = rawValue.utf8
        let name = topic.utf8
        var level = levelsStart
        if name.first == UInt8(ascii: "$"), Self.isWildcard(filter, level, UInt8(ascii: "+")) || Self.isWildcard(filter, level, UInt8(ascii: "#")) {
            return false
        }
        var nameLevel: String.Index? = name.startIndex  // nil once the topic has no level left
        while true {
            let levelEnd = filter[level...].firstIndex(of: UInt8(ascii: "/")) ?? filter.endIndex
            if Self.isWildcard(filter, level, UInt8(ascii: "#")) { return true }
            guard let nameStart = nameLevel else { return false }
            let nameEnd = name[nameStart...].firstIndex(of: UInt8(ascii: "/")) ?? name.endIndex
            if !Self.isWildcard(filter, level, UInt8(ascii: "+")) && !filter[level..<levelEnd].elementsEqual(name[nameStart..<nameEnd]) {
                return false
            }
            nameLevel = nameEnd == name.endIndex ? nil : name.index(after: nameEnd)
            guard levelEnd != filter.endIndex else { return nameLevel == nil }
            level = filter.index(after: levelEnd)
        }
    }

    /// Whether the level of `filter` starting at `start` is the single character `wildcard`.
    private static func isWildcard(_ filter: String.UTF8View, _ start: String.Index, _ wildcard: UInt8) -> Bool {
        guard start != filter.endIndex, filter[start] == wildcard else { return false }
        let next = filter.index(after: start)
        return next == filter.endIndex || filter[next] == UInt8(ascii: "/")
    }

    public var description: String { rawValue }
}
