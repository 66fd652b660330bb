import JSON
import Profile
import Scheme

/// Why a reload was refused; the agent keeps its profile.
public struct ReloadError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What the agent is doing, for `gpiobridge status`.
public struct AgentStatus: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        public var name: String
        public var line: String
        /// The logical state; nil while the line is not held.
        public var state: Bool?
    }

    public var profile: String
    public var device: String
    public var connection = "idle"
    public var outputs: [Line] = []
    public var inputs: [Line] = []
    public var sensors: [String] = []
    /// The last ten errors, oldest first.
    public var recentErrors: [String] = []

    init(profile: Profile) {
        self.profile = profile.source
        self.device = profile.device.id
    }

    /// As JSON, for the control socket and `gpiobridge status --json`.
    public var json: JSONValue {
        func lines(_ lines: [Line]) -> JSONValue {
            .array(
                lines.map { line in
                    .object([
                        "name": .string(line.name), "line": .string(line.line), "state": line.state.map { .string(SchemeWord.state($0)) } ?? .null,
                    ])
                })
        }
        return .object([
            "profile": .string(profile), "device": .string(device), "connection": .string(connection),
            "outputs": lines(outputs), "inputs": lines(inputs), "sensors": .array(sensors.map { .string($0) }),
            "errors": .array(recentErrors.map { .string($0) }),
        ])
    }
}
