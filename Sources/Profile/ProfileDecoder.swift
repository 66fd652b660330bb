import Hardware
import JSON
import MQTTCore
import Scheme

/// Turns a YAML tree into a ``Profile``, collecting every issue with its location instead of
/// stopping at the first.
final class ProfileDecoder {
    let file: String
    /// Whether the files a profile names must exist (see ``ProfileLoader/load(path:checkingFiles:)``).
    let checksFiles: Bool
    private(set) var issues: [ProfileIssue] = []

    init(file: String, checksFiles: Bool = true) {
        self.file = file
        self.checksFiles = checksFiles
    }

    /// The keys of one mapping, with the key path it sits at.
    struct Fields {
        let path: String
        let location: SourceLocation
        let entries: [(key: String, keyNode: YAMLNode, value: YAMLNode)]

        /// The value of `key`, unless it is missing or null.
        subscript(key: String) -> YAMLNode? {
            entries.first { $0.key == key }.flatMap { $0.value.isNull ? nil : $0.value }
        }

        func has(_ key: String) -> Bool { self[key] != nil }

        func path(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

        /// Where this mapping and each of its values are written.
        var origin: SettingLocation {
            SettingLocation(
                location: location, path: path,
                keys: Dictionary(entries.map { ($0.key, $0.value.location) }, uniquingKeysWith: { first, _ in first }))
        }
    }

    // MARK: Issues

    func issue(at location: SourceLocation, _ path: String, _ message: String, hint: String? = nil) {
        issues.append(ProfileIssue(file: file, location: location, path: path, message: message, hint: hint))
    }

    func issue(_ fields: Fields, _ key: String, _ message: String, hint: String? = nil) {
        issue(at: fields[key]?.location ?? fields.location, fields.path(key), message, hint: hint)
    }

    // MARK: Structure

    /// The node as a mapping with only `known` keys; an unknown key is an issue with a suggestion.
    func fields(_ node: YAMLNode, path: String, known: [String]) -> Fields? {
        guard case .mapping(let entries) = node.kind else {
            issue(at: node.location, path, "expected a mapping of settings, got \(node.summary)")
            return nil
        }
        var keyed: [(String, YAMLNode, YAMLNode)] = []
        for (key, value) in entries {
            guard let name = key.scalar else {
                issue(at: key.location, path, "a key must be plain text, got \(key.summary)")
                continue
            }
            guard known.contains(name) else {
                let keyPath = path.isEmpty ? name : "\(path).\(name)"
                if let match = closestMatch(to: name, in: known) {
                    issue(at: key.location, keyPath, "unknown setting \"\(name)\"", hint: "did you mean \"\(match)\"?")
                } else {
                    issue(
                        at: key.location, keyPath, "unknown setting \"\(name)\"",
                        hint: "the settings here are \(known.joined(separator: ", "))")
                }
                continue
            }
            keyed.append((name, key, value))
        }
        return Fields(path: path, location: node.location, entries: keyed)
    }

    /// The items of a list; a missing key is an empty list.
    func list(_ fields: Fields, _ key: String) -> [(node: YAMLNode, path: String)] {
        guard let node = fields[key] else { return [] }
        guard case .sequence(let items) = node.kind else {
            issue(fields, key, "expected a list (items starting with \"- \"), got \(node.summary)")
            return []
        }
        return items.enumerated().map { ($0.element, "\(fields.path(key))[\($0.offset)]") }
    }

    func required(_ fields: Fields, _ key: String, hint: String) -> YAMLNode? {
        if let node = fields[key] { return node }
        issue(at: fields.location, fields.path(key), "missing", hint: hint)
        return nil
    }

    // MARK: Scalars

    func string(_ fields: Fields, _ key: String) -> String? {
        guard let node = fields[key] else { return nil }
        guard let text = node.scalar else {
            issue(fields, key, "expected text, got \(node.summary)")
            return nil
        }
        return text
    }

    func bool(_ fields: Fields, _ key: String) -> Bool? {
        guard let node = fields[key] else { return nil }
        switch node.scalar?.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            issue(fields, key, "expected true or false, got \(node.summary)")
            return nil
        }
    }

    /// A whole number in `range`; `0x` hex is accepted.
    func int(_ fields: Fields, _ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let node = fields[key] else { return nil }
        let text = node.scalar?.lowercased() ?? ""
        guard let value = text.hasPrefix("0x") ? Int(text.dropFirst(2), radix: 16) : Int(text) else {
            issue(fields, key, "expected a whole number, got \(node.summary)")
            return nil
        }
        guard range.contains(value) else {
            issue(fields, key, "\(value) is out of range", hint: "use \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return value
    }

    func double(_ fields: Fields, _ key: String, above minimum: Double) -> Double? {
        guard let node = fields[key] else { return nil }
        guard let value = node.scalar.flatMap(Double.init), value.isFinite else {
            issue(fields, key, "expected a number, got \(node.summary)")
            return nil
        }
        guard value > minimum else {
            issue(fields, key, "\(formatReading(value)) is out of range", hint: "use a number above \(formatReading(minimum))")
            return nil
        }
        return value
    }

    /// A duration such as `500ms`, `3s`, `5m` or `1h` (a bare number is seconds), in milliseconds.
    func duration(_ fields: Fields, _ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let node = fields[key] else { return nil }
        guard let text = node.scalar, let milliseconds = Self.parseDuration(text) else {
            issue(fields, key, "expected a duration such as 500ms, 3s, 5m or 1h, got \(node.summary)")
            return nil
        }
        guard range.contains(milliseconds) else {
            issue(
                fields, key, "\(Self.formatDuration(milliseconds)) is out of range",
                hint: "use \(Self.formatDuration(range.lowerBound)) to \(Self.formatDuration(range.upperBound))")
            return nil
        }
        return milliseconds
    }

    /// Milliseconds, or `Int.max` for a duration beyond that (`2e280s`), which every range refuses.
    static func parseDuration(_ text: String) -> Int? {
        let trimmed = text.trimmingSpaces().lowercased()
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            guard let number = Double(String(trimmed.dropLast(suffix.count)).trimmingSpaces()), number >= 0, number.isFinite else { return nil }
            return milliseconds(number * scale)
        }
        guard let seconds = Double(trimmed), seconds >= 0, seconds.isFinite else { return nil }
        return milliseconds(seconds * 1000)
    }

    private static func milliseconds(_ value: Double) -> Int {
        // Converting a Double beyond Int's range traps.
        let rounded = value.rounded()
        return rounded < Double(Int.max) ? Int(rounded) : Int.max
    }

    static func formatDuration(_ milliseconds: Int) -> String {
        if milliseconds % 3_600_000 == 0 && milliseconds > 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0 && milliseconds > 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }

    /// One of an enumeration's raw values, with a suggestion for a near miss.
    func choice<T: RawRepresentable & CaseIterable>(_ fields: Fields, _ key: String, _ type: T.Type = T.self) -> T?
    where T.RawValue == String {
        guard let node = fields[key] else { return nil }
        let names = T.allCases.map(\.rawValue)
        if let text = node.scalar, let value = T(rawValue: text.lowercased()) { return value }
        let near = node.scalar.flatMap { closestMatch(to: $0, in: names) }
        issue(
            fields, key, "\(node.summary) is not one of \(names.joined(separator: ", "))",
            hint: near.map { "did you mean \($0)?" })
        return nil
    }

    /// A topic name (no wildcards).
    /// The longest name (device, output, sensor...): it is part of topics and Home Assistant ids.
    static let maximumNameBytes = 64
    /// The longest topic or topic filter a profile may write.
    static let maximumTopicBytes = 512

    func topic(_ fields: Fields, _ key: String) -> String? {
        guard let text = string(fields, key), fitsTopicLength(fields, key, text) else { return nil }
        guard TopicName.isValid(text) else {
            issue(
                fields, key, "\(quotedExcerpt(text)) is not a topic to publish to",
                hint: "a topic is non-empty UTF-8 without + or # wildcards, such as gpiobridge/garage/door")
            return nil
        }
        return text
    }

    /// A name used in topics and Home Assistant ids: letters, digits, `-` and `_`.
    func identifier(_ fields: Fields, _ key: String) -> String? {
        guard let text = string(fields, key) else { return nil }
        guard text.utf8.count <= Self.maximumNameBytes else {
            issue(fields, key, "a name is at most \(Self.maximumNameBytes) bytes, and this one is \(text.utf8.count)", hint: "shorten it")
            return nil
        }
        guard !text.isEmpty, text.utf8.allSatisfy({ Self.identifierBytes.contains($0) }) else {
            issue(
                fields, key, "\(quotedExcerpt(text)) cannot be used in topics and ids",
                hint: "use letters, digits, - and _ only, such as \(Self.suggestedIdentifier(text))")
            return nil
        }
        return text
    }

    /// Whether a topic or filter is within ``maximumTopicBytes``; an issue when it is not.
    func fitsTopicLength(_ fields: Fields, _ key: String, _ text: String) -> Bool {
        guard text.utf8.count > Self.maximumTopicBytes else { return true }
        issue(fields, key, "a topic is at most \(Self.maximumTopicBytes) bytes here, and this one is \(text.utf8.count)", hint: "shorten it")
        return false
    }

    private static let identifierBytes = Set(Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_".utf8))

    private static func suggestedIdentifier(_ text: String) -> String {
        let mapped = String(text.lowercased().map { identifierBytes.contains($0.asciiValue ?? 0) ? $0 : "_" })
        return mapped.isEmpty ? "garage_relay" : mapped
    }

    /// `GPIO17`, `gpiochip0:17`, or `{chip: gpiochip0, offset: 17}`.
    func line(_ fields: Fields, _ key: String) -> LineReference? {
        guard let node = fields[key] else { return nil }
        if let text = node.scalar {
            if Int(text) != nil {
                issue(
                    fields, key, "a bare number does not say which chip",
                    hint: "write the line's name (GPIO\(text) on a Raspberry Pi) or chip and offset (gpiochip0:\(text))")
                return nil
            }
            if let colon = text.lastIndex(of: ":") {
                let chip = String(text[..<colon])
                guard let offset = Int(text[text.index(after: colon)...]), offset >= 0, !chip.isEmpty else {
                    issue(fields, key, "\"\(text)\" is not chip:offset", hint: "write gpiochip0:17, or a line name such as GPIO17")
                    return nil
                }
                return .chipOffset(chip: chip, offset: offset)
            }
            return text.isEmpty ? nil : .name(text)
        }
        guard let line = self.fields(node, path: fields.path(key), known: ["chip", "offset"]) else { return nil }
        guard let chip = required(line, "chip", hint: "add chip: gpiochip0").flatMap({ _ in string(line, "chip") }),
            let offset = required(line, "offset", hint: "add offset: 17").flatMap({ _ in int(line, "offset", in: 0...4095) })
        else { return nil }
        return .chipOffset(chip: chip, offset: offset)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return String(text)
    }
}
