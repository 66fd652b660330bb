import JSON

/// What a message on an output's command topic asks for.
public enum OutputCommand: Sendable, Equatable {
    /// Switch on or off; an ON may end by itself after `pulseMilliseconds`.
    case set(on: Bool, pulseMilliseconds: Int?)
    case toggle(pulseMilliseconds: Int?)
    /// An empty message: publish the current state.
    case query

    /// The longest pulse a command may ask for.
    public static let maximumPulseMilliseconds = 3_600_000

    /// Reads a command payload: `ON`, `OFF`, `TOGGLE`, `1`, `0`, `true` or `false` in any case,
    /// JSON such as `{"state":"ON","pulse_ms":500}`, or nothing at all (a query).
    public init(payload: String) throws(CommandError) {
        let text = payload.trimmingWhitespace()
        guard text.utf8.count <= 1024 else { throw CommandError("the payload is \(text.utf8.count) bytes; a command is at most 1024") }
        if text.isEmpty {
            self = .query
        } else if text.hasPrefix("{") || text.hasPrefix("[") {
            self = try Self.json(text)
        } else if let word = StateWord(.string(text)) {
            self = word.command(pulseMilliseconds: nil)
        } else {
            throw CommandError(
                "\(quotedExcerpt(text)) is not a command",
                hint: Self.closeWord(text).map { "did you mean \($0)?" } ?? Self.vocabulary)
        }
    }

    static let vocabulary = #"send ON, OFF, TOGGLE, 1, 0, true, false, {"state":"ON","pulse_ms":500}, or an empty message for the state"#

    private static func closeWord(_ text: String) -> String? {
        closestMatch(to: text, in: ["ON", "OFF", "TOGGLE", "true", "false"])
    }

    private static func json(_ text: String) throws(CommandError) -> OutputCommand {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: text)
        } catch {
            throw CommandError("the JSON is malformed: \(error)", hint: #"send {"state":"ON"} or {"state":"ON","pulse_ms":500}"#)
        }
        guard case .object(let members) = value else { throw CommandError("a JSON command is an object", hint: #"send {"state":"ON"}"#) }
        for member in members where !["state", "pulse_ms"].contains(member.key) {
            throw CommandError(
                "unknown key \(quotedExcerpt(member.key)) in the JSON command",
                hint: closestMatch(to: member.key, in: ["state", "pulse_ms"]).map { "did you mean \($0)?" } ?? "the keys are state and pulse_ms")
        }
        var pulse: Int?
        if let pulseValue = value["pulse_ms"] {
            guard case .number(let number) = pulseValue, number == number.rounded(), number >= 1, number <= Double(maximumPulseMilliseconds) else {
                throw CommandError("pulse_ms must be a whole number of milliseconds from 1 to \(maximumPulseMilliseconds)")
            }
            pulse = Int(number)
        }
        guard let state = value["state"] else {
            guard let pulse else { throw CommandError("the JSON command has no state", hint: #"send {"state":"ON"}"#) }
            return .set(on: true, pulseMilliseconds: pulse)
        }
        guard let word = StateWord(state) else {
            let shown = if case .string(let text) = state { quotedExcerpt(text) } else { leadingBytes(of: state.serialized) }
            throw CommandError("state \(shown) is not ON, OFF or TOGGLE")
        }
        if word == .off && pulse != nil { throw CommandError("a pulse needs state ON or TOGGLE") }
        return word.command(pulseMilliseconds: pulse)
    }
}

/// ON, OFF or TOGGLE, spelled any of the accepted ways.
private enum StateWord {
    case on, off, toggle

    init?(_ value: JSONValue) {
        switch value {
        case .bool(let on): self = on ? .on : .off
        case .number(1): self = .on
        case .number(0): self = .off
        case .string(let text):
            switch text.lowercased() {
            case "on", "1", "true": self = .on
            case "off", "0", "false": self = .off
            case "toggle": self = .toggle
            default: return nil
            }
        default: return nil
        }
    }

    func command(pulseMilliseconds: Int?) -> OutputCommand {
        switch self {
        case .on: .set(on: true, pulseMilliseconds: pulseMilliseconds)
        case .off: .set(on: false, pulseMilliseconds: nil)
        case .toggle: .toggle(pulseMilliseconds: pulseMilliseconds)
        }
    }
}

/// Why a command was refused: sent to the error topic and logged.
public struct CommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    public var description: String { message + (hint.map { " (\($0))" } ?? "") }
}

extension String {
    /// The text without leading and trailing whitespace (payloads often end in a newline).
    public func trimmingWhitespace() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}

/// Why a command on a device's command topic was not carried out, in the words the agent and the
/// relay both put on the error topic.
public enum CommandRefusal {
    /// A command delivered from the broker's retained store, with the command that clears it.
    public static func retained(_ topic: String) -> String {
        "a retained command never moves an output; clear it with: gpiobridge pub -r -n -t '\(topic)'"
    }

    /// A message over the client's maximum packet size, skipped unread.
    public static func oversized(size: Int, limit: Int) -> String {
        "a message of \(size) bytes is over the limit of \(limit) bytes: skipped"
    }
}
