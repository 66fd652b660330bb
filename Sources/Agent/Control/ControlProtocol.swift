import JSON

/// Why a control request or reply was refused.
public struct ControlProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

/// A request to a running agent's control socket: one JSON line. The CLI, the agent and its
/// SIGHUP handler share this definition, and the agent accepts nothing else.
public enum ControlRequest: Sendable, Hashable {
    /// What the agent is doing.
    case status
    /// Read the agent's own profile file again. A request never names a file: the agent opens no
    /// file a caller chooses (`gpiobridge profile apply` installs the file, then asks for this).
    case reload
    /// Drive a line of the simulated chip as a button would (`--simulate` only); nil lets its pull decide.
    case drive(line: String, level: Bool?)

    /// The request as it travels.
    public var json: JSONValue {
        switch self {
        case .status: .object(["command": .string("status")])
        case .reload: .object(["command": .string("reload")])
        case .drive(let line, let level):
            .object(["command": .string("drive"), "line": .string(line), "level": level.map { .bool($0) } ?? .null])
        }
    }

    /// Reads a request. Another command, a missing key or an extra one is refused with why.
    public init(json: JSONValue) throws(ControlProtocolError) {
        guard case .object(let members) = json else { throw ControlProtocolError("a request is a JSON object") }
        guard case .string(let command)? = json["command"] else {
            throw ControlProtocolError("the request has no \"command\"; the commands are status, reload and drive")
        }
        let keys: Set<String>
        switch command {
        case "status":
            keys = ["command"]
            self = .status
        case "reload":
            keys = ["command"]
            self = .reload
        case "drive":
            guard case .string(let line)? = json["line"] else { throw ControlProtocolError("drive needs \"line\", a line's name") }
            switch json["level"] {
            case .bool(let level)?: self = .drive(line: line, level: level)
            case .null?, nil: self = .drive(line: line, level: nil)
            default: throw ControlProtocolError("drive's \"level\" is true, false or null")
            }
            keys = ["command", "line", "level"]
        default:
            throw ControlProtocolError("unknown command \(quotedExcerpt(command)); the commands are status, reload and drive")
        }
        if let extra = members.first(where: { !keys.contains($0.key) }) {
            let why = extra.key == "profile" ? ": the agent reloads only its own profile (gpiobridge profile apply installs another)" : ""
            throw ControlProtocolError("\(command) takes no \(quotedExcerpt(extra.key))\(why)")
        }
    }
}

/// An agent's answer to a ``ControlRequest``.
public enum ControlReply: Sendable, Equatable {
    /// The answer to ``ControlRequest/status``.
    case status(AgentStatus)
    /// The profile was read again and applied: what changed, and the file.
    case reloaded(summary: String, profile: String)
    /// The request was carried out.
    case done
    /// The request was refused, and why.
    case refused(String)

    /// The reply as it travels.
    public var json: JSONValue {
        switch self {
        case .status(let status): .object(["ok": .bool(true), "status": status.json])
        case .reloaded(let summary, let profile): .object(["ok": .bool(true), "summary": .string(summary), "profile": .string(profile)])
        case .done: .object(["ok": .bool(true)])
        case .refused(let error): .object(["ok": .bool(false), "error": .string(error)])
        }
    }

    /// Reads a reply.
    public init(json: JSONValue) throws(ControlProtocolError) {
        switch (json["ok"], json["error"], json["status"], json["summary"], json["profile"]) {
        case (.bool(false)?, .string(let error)?, _, _, _): self = .refused(error)
        case (.bool(true)?, _, let status?, _, _): self = .status(try AgentStatus(json: status))
        case (.bool(true)?, _, nil, .string(let summary)?, .string(let profile)?): self = .reloaded(summary: summary, profile: profile)
        case (.bool(true)?, nil, nil, nil, nil): self = .done
        default: throw ControlProtocolError("the agent's answer is not a reply: \(quotedExcerpt(json.serialized))")
        }
    }
}

extension AgentStatus {
    /// Reads the status as ``json`` writes it.
    public init(json: JSONValue) throws(ControlProtocolError) {
        func text(_ key: String, in value: JSONValue = json) throws(ControlProtocolError) -> String {
            guard case .string(let text)? = value[key] else { throw ControlProtocolError("the status has no \"\(key)\"") }
            return text
        }
        func texts(_ key: String) throws(ControlProtocolError) -> [String] {
            guard case .array(let items)? = json[key] else { throw ControlProtocolError("the status has no \"\(key)\" list") }
            var texts: [String] = []
            for item in items {
                guard case .string(let text) = item else { throw ControlProtocolError("\"\(key)\" holds something other than text") }
                texts.append(text)
            }
            return texts
        }
        func lines(_ key: String) throws(ControlProtocolError) -> [Line] {
            guard case .array(let items)? = json[key] else { throw ControlProtocolError("the status has no \"\(key)\" list") }
            var lines: [Line] = []
            for item in items {
                let state: Bool?
                switch item["state"] {
                case .string("ON")?: state = true
                case .string("OFF")?: state = false
                default: state = nil
                }
                lines.append(Line(name: try text("name", in: item), line: try text("line", in: item), state: state))
            }
            return lines
        }
        profile = try text("profile")
        device = try text("device")
        connection = try text("connection")
        outputs = try lines("outputs")
        inputs = try lines("inputs")
        sensors = try texts("sensors")
        recentErrors = try texts("errors")
    }
}
