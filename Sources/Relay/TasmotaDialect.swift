import JSON
import Scheme

/// Tasmota: `cmnd/<t>/POWERn` (and `STATE` to ask) in, `stat/<t>/RESULT` / `stat/<t>/POWERn` /
/// `tele/<t>/STATE` and `tele/<t>/SENSOR` out, `tele/<t>/LWT` `Online` / `Offline` (retained, the
/// will). Topics follow the board's FullTopic (default `%prefix%/%topic%/`) and its prefixes.
public struct TasmotaDialect: BoardDialect {
    /// A relay: Tasmota's POWERn, mirrored as `name`.
    public struct Relay: Sendable, Equatable {
        public var name: String
        /// 1 for POWER / POWER1 (SetOption26 names a single relay POWER1), 2 for POWER2, ...
        public var index: Int

        public init(name: String, index: Int) {
            self.name = name
            self.index = index
        }
    }

    /// A field of `tele/<t>/SENSOR`, such as `BME280.Temperature`, mirrored as `name`.
    public struct SensorField: Sendable, Equatable {
        public var name: String
        public var path: [String]
        /// What the profile says of its unit and class, over what the field's name implies.
        public var profileDescription: SensorDescription

        public init(name: String, path: [String], profileDescription: SensorDescription = SensorDescription()) {
            self.name = name
            self.path = path
            self.profileDescription = profileDescription
        }
    }

    public let topic: String
    public let fullTopic: String
    public var relays: [Relay]
    public var sensorFields: [SensorField]
    /// The board's units, as its announcement and telemetry name them: `TempUnit` (`C` or `F`),
    /// `PressureUnit` (`hPa`, `mmHg`, `inHg`). Tasmota's defaults until the board says.
    public var units: [String: String] = [:]
    /// The board's %prefix% words: commands, status and telemetry (Prefix1..3).
    public let prefixes: (command: String, stat: String, tele: String)
    /// The topics every message is compared with, expanded once rather than per message.
    private let lwtTopic, stateTopic, sensorTopic, resultTopic, statPrefix, commandPrefix: String

    public init(
        topic: String, fullTopic: String = "%prefix%/%topic%/", relays: [Relay], sensorFields: [SensorField] = [],
        prefixes: (command: String, stat: String, tele: String) = ("cmnd", "stat", "tele")
    ) {
        self.topic = topic
        self.fullTopic = fullTopic
        self.relays = relays
        self.sensorFields = sensorFields
        self.prefixes = prefixes
        func expand(_ prefix: String, _ suffix: String) -> String { Self.expand(fullTopic, topic: topic, prefix, suffix) }
        lwtTopic = expand(prefixes.tele, "LWT")
        stateTopic = expand(prefixes.tele, "STATE")
        sensorTopic = expand(prefixes.tele, "SENSOR")
        resultTopic = expand(prefixes.stat, "RESULT")
        statPrefix = expand(prefixes.stat, "")
        commandPrefix = expand(prefixes.command, "")
    }

    /// `%prefix%/%topic%/` with the prefix and topic put in, then `suffix`.
    public func topic(_ prefix: String, _ suffix: String) -> String {
        Self.expand(fullTopic, topic: topic, prefix, suffix)
    }

    private static func expand(_ fullTopic: String, topic: String, _ prefix: String, _ suffix: String) -> String {
        var expanded = fullTopic.replacing("%prefix%", with: prefix).replacing("%topic%", with: topic)
        if !expanded.hasSuffix("/") { expanded += "/" }
        return expanded + suffix
    }

    public var subscriptions: [String] { [lwtTopic, stateTopic, sensorTopic, statPrefix + "+"] }
    /// STATE with no payload: answered on stat/<t>/RESULT with every POWERn, as Home Assistant asks.
    public var stateQuery: [BoardMessage] { relays.isEmpty ? [] : [BoardMessage(topic: commandPrefix + "STATE", payload: "")] }
    public var outputs: [String] { relays.map(\.name) }
    public var sensors: [String] { sensorFields.map(\.name) }

    /// Home Assistant's unit and classes for a SENSOR field, from its last key (`Temperature`,
    /// `Humidity`, `Power`, ...) and the board's units.
    public func description(ofSensor name: String) -> SensorDescription {
        guard let field = sensorFields.first(where: { $0.name == name }) else { return SensorDescription() }
        return fieldDescription(field.path.last ?? "").overridden(by: field.profileDescription)
    }

    private func fieldDescription(_ key: String) -> SensorDescription {
        let measurement = "measurement"
        switch key {
        case "Temperature", "DewPoint":
            return SensorDescription(unit: units["TempUnit"] == "F" ? "°F" : "°C", deviceClass: "temperature", stateClass: measurement)
        case "Humidity": return SensorDescription(unit: "%", deviceClass: "humidity", stateClass: measurement)
        case "Pressure", "SeaPressure":
            let unit = units["PressureUnit"].flatMap { ["hPa", "mmHg", "inHg"].contains($0) ? $0 : nil } ?? "hPa"
            return SensorDescription(unit: unit, deviceClass: "pressure", stateClass: measurement)
        case "Illuminance": return SensorDescription(unit: "lx", deviceClass: "illuminance", stateClass: measurement)
        case "Voltage": return SensorDescription(unit: "V", deviceClass: "voltage", stateClass: measurement)
        case "Current": return SensorDescription(unit: "A", deviceClass: "current", stateClass: measurement)
        case "Power": return SensorDescription(unit: "W", deviceClass: "power", stateClass: measurement)
        case "ApparentPower": return SensorDescription(unit: "VA", deviceClass: "apparent_power", stateClass: measurement)
        case "ReactivePower": return SensorDescription(unit: "var", deviceClass: "reactive_power", stateClass: measurement)
        case "Factor": return SensorDescription(deviceClass: "power_factor", stateClass: measurement)
        case "Frequency": return SensorDescription(unit: "Hz", deviceClass: "frequency", stateClass: measurement)
        case "Total", "Today": return SensorDescription(unit: "kWh", deviceClass: "energy", stateClass: "total_increasing")
        case "Yesterday": return SensorDescription(unit: "kWh", deviceClass: "energy", stateClass: "total")
        case "CarbonDioxide", "eCO2": return SensorDescription(unit: "ppm", deviceClass: "carbon_dioxide", stateClass: measurement)
        case "PM1": return SensorDescription(unit: "µg/m³", deviceClass: "pm1", stateClass: measurement)
        case "PM2.5": return SensorDescription(unit: "µg/m³", deviceClass: "pm25", stateClass: measurement)
        case "PM10": return SensorDescription(unit: "µg/m³", deviceClass: "pm10", stateClass: measurement)
        case "Distance": return SensorDescription(unit: "cm", deviceClass: "distance", stateClass: measurement)
        default: return SensorDescription(stateClass: measurement)
        }
    }

    public func events(topic messageTopic: String, payload: String) -> [BoardEvent] {
        if messageTopic == lwtTopic {
            switch payload.lowercased() {
            case "online": return [.availability(true)]
            case "offline": return [.availability(false)]
            default: return [.malformed(topic: messageTopic, reason: "LWT says \"\(payload)\", not Online or Offline")]
            }
        }
        if messageTopic == resultTopic || messageTopic == stateTopic {
            guard let json = object(payload, messageTopic) else { return [.malformed(topic: messageTopic, reason: jsonProblem(payload))] }
            return relays.compactMap { relay in
                for member in json where powerIndex(member.key) == relay.index {
                    if case .string(let text) = member.value, let on = stateWord(text) { return .state(name: relay.name, on: on) }
                }
                return nil
            }
        }
        if messageTopic == sensorTopic {
            guard let json = object(payload, messageTopic) else { return [.malformed(topic: messageTopic, reason: jsonProblem(payload))] }
            return sensorFields.compactMap { field in
                var value = JSONValue.object(json)
                for key in field.path {
                    guard let next = value[key] else { return nil }
                    value = next
                }
                switch value {
                case .number: return .value(name: field.name, value.serialized)
                case .null: return .noReading(name: field.name)
                default: return .malformed(topic: messageTopic, reason: "\(field.path.joined(separator: ".")) is \(value.serialized), not a number")
                }
            }
        }
        if messageTopic.hasPrefix(statPrefix), let index = powerIndex(String(messageTopic.dropFirst(statPrefix.count))),
            let relay = relays.first(where: { $0.index == index })
        {
            guard let on = stateWord(payload) else {
                return [.malformed(topic: messageTopic, reason: "\"\(payload)\" is not ON or OFF")]
            }
            return [.state(name: relay.name, on: on)]
        }
        return []
    }

    public func command(_ command: OutputCommand, for name: String, current: Bool?) -> BoardCommandResult {
        guard let relay = relays.first(where: { $0.name == name }) else { return .refused("\(name) is not a relay of this board") }
        let power = commandPrefix + "POWER\(relay.index)"
        switch command {
        case .query:
            return .send(stateQuery)
        case .set(let on, nil):
            return .send([BoardMessage(topic: power, payload: on ? "ON" : "OFF")])
        case .toggle(nil):
            return .send([BoardMessage(topic: power, payload: "TOGGLE")])
        case .set(_, let pulse?), .toggle(let pulse?):
            // The board ends the pulse itself, in tenths of a second: Backlog POWERn ON; Delay d; POWERn OFF.
            let tenths = max(1, (pulse + 99) / 100)
            return .send([
                BoardMessage(
                    topic: commandPrefix + "Backlog",
                    payload: "POWER\(relay.index) ON; Delay \(tenths); POWER\(relay.index) OFF")
            ])
        }
    }

    /// 1 for POWER and POWER1, n for POWERn, in any case (hatasmota sends Power1); nil otherwise.
    private func powerIndex(_ key: String) -> Int? {
        let upper = key.uppercased()
        guard upper.hasPrefix("POWER") else { return nil }
        let digits = upper.dropFirst(5)
        if digits.isEmpty { return 1 }
        return Int(digits).flatMap { $0 >= 1 ? $0 : nil }
    }

    private func object(_ payload: String, _ topic: String) -> [JSONMember]? {
        guard case .object(let members)? = try? JSONValue(parsing: payload) else { return nil }
        return members
    }

    private func jsonProblem(_ payload: String) -> String {
        do {
            _ = try JSONValue(parsing: payload)
            return "expected a JSON object"
        } catch {
            return "malformed JSON: \(error)"
        }
    }
}
