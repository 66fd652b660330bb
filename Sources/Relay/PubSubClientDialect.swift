import JSON
import Profile
import Scheme

/// A hand-written PubSubClient sketch, such as the ESP8266 tutorial's: raw topics it publishes
/// (numbers, JSON, or words for ON and OFF) and raw topics it subscribes to. It has no will and no
/// birth: the relay infers its availability from silence.
public struct PubSubClientDialect: BoardDialect {
    /// A topic whose payloads are numbers, mirrored as `name`: the whole payload, or the number at
    /// `jsonPath` in a JSON payload.
    public struct Value: Sendable, Equatable {
        public var name: String
        public var topic: String
        public var jsonPath: [String]
        /// Its unit and class, as the profile gives them (a sketch announces nothing).
        public var description: SensorDescription

        public init(name: String, topic: String, jsonPath: [String] = [], description: SensorDescription = SensorDescription()) {
            self.name = name
            self.topic = topic
            self.jsonPath = jsonPath
            self.description = description
        }
    }

    /// A topic whose payloads are two words, mirrored as the input `name`: `on` is ON, `off` is OFF.
    public struct Input: Sendable, Equatable {
        public var name: String
        public var topic: String
        public var on: String
        public var off: String

        public init(name: String, topic: String, on: String = "ON", off: String = "OFF") {
            self.name = name
            self.topic = topic
            self.on = on
            self.off = off
        }
    }

    /// A topic the sketch listens on, mirrored as the output `name`: ON and OFF become `on` and `off`.
    public struct CommandTopic: Sendable, Equatable {
        public var name: String
        public var topic: String
        public var on: String
        public var off: String

        public init(name: String, topic: String, on: String = "1", off: String = "0") {
            self.name = name
            self.topic = topic
            self.on = on
            self.off = off
        }
    }

    /// The topics it publishes numbers on.
    public var values: [Value]
    /// The topics it publishes two words on.
    public var inputTopics: [Input]
    /// The topics it listens on.
    public var commands: [CommandTopic]

    /// A sketch with these topics; its mirrored names are those of the values, inputs and commands.
    /// Which JSON messages are this sketch's, where it shares its topics with others.
    public var match: PlainMatch?

    public init(values: [Value], inputs: [Input] = [], commands: [CommandTopic] = [], match: PlainMatch? = nil) {
        self.values = values
        self.inputTopics = inputs
        self.commands = commands
        self.match = match
    }

    public var subscriptions: [String] { Array(Set(values.map(\.topic) + inputTopics.map(\.topic))).sorted() }
    public var reportsState: Bool { false }
    public var outputs: [String] { commands.map(\.name) }
    public var inputs: [String] { inputTopics.map(\.name) }
    public var sensors: [String] { values.map(\.name) }

    public func description(ofSensor name: String) -> SensorDescription {
        SensorDescription(stateClass: "measurement").overridden(by: values.first { $0.name == name }?.description ?? SensorDescription())
    }

    public func events(topic: String, payload: String) -> [BoardEvent] {
        let matchingValues = values.filter { $0.topic == topic }
        let matchingInputs = inputTopics.filter { $0.topic == topic }
        guard !matchingValues.isEmpty || !matchingInputs.isEmpty else { return [] }
        // Another sketch's message on a shared topic is not this board's, not even as a sign of life.
        if let match, !matches(payload, match) { return [] }
        // Any message is a sign of life.
        var events: [BoardEvent] = [.availability(true)]
        let text = payload.trimmingWhitespace()
        for value in matchingValues {
            events.append(number(value, text, topic))
        }
        for input in matchingInputs {
            if text == input.on {
                events.append(.state(name: input.name, on: true))
            } else if text == input.off {
                events.append(.state(name: input.name, on: false))
            } else {
                events.append(.malformed(topic: topic, reason: "\"\(text.prefix(40))\" is neither \"\(input.on)\" nor \"\(input.off)\""))
            }
        }
        return events
    }

    /// Whether the JSON payload's field at `match.path` is `match.value` (a string, or a number spelled so).
    private func matches(_ payload: String, _ match: PlainMatch) -> Bool {
        guard var found = try? JSONValue(parsing: payload) else { return false }
        for key in match.path {
            guard let next = found[key] else { return false }
            found = next
        }
        switch found {
        case .string(let text): return text == match.value
        case .number: return found.serialized == match.value
        default: return false
        }
    }

    private func number(_ value: Value, _ text: String, _ topic: String) -> BoardEvent {
        guard !value.jsonPath.isEmpty else {
            return reading(text, for: value.name) ?? .malformed(topic: topic, reason: "\"\(text.prefix(40))\" is not a number")
        }
        let path = value.jsonPath.joined(separator: ".")
        guard var found = try? JSONValue(parsing: text) else { return .malformed(topic: topic, reason: "malformed JSON, expected \(path)") }
        for key in value.jsonPath {
            guard let next = found[key] else { return .malformed(topic: topic, reason: "the JSON has no \(path)") }
            found = next
        }
        switch found {
        case .number: return .value(name: value.name, found.serialized)
        case .null: return .noReading(name: value.name)
        default: return .malformed(topic: topic, reason: "\(path) is \(found.serialized), not a number")
        }
    }

    public func command(_ command: OutputCommand, for name: String, current: Bool?) -> BoardCommandResult {
        guard let target = commands.first(where: { $0.name == name }) else { return .refused("\(name) takes no commands on this board") }
        switch command {
        case .query: return .answerFromRecord
        case .set(let on, nil): return .send([BoardMessage(topic: target.topic, payload: on ? target.on : target.off)])
        case .toggle(nil):
            guard let current else { return .refused("the board's state is not known yet, so it cannot be toggled; send ON or OFF") }
            return .send([BoardMessage(topic: target.topic, payload: current ? target.off : target.on)])
        case .set(_, _?), .toggle(_?):
            return .refused("a plain board cannot time a pulse itself; send ON and OFF")
        }
    }
}
