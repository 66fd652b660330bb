import JSON
import Scheme

/// Home Assistant discovery for a mirrored board, device-based like an agent's: one retained
/// config at `<prefix>/device/gpiobridge_<board>/config` whose entities use the board's
/// gpiobridge topics. It is available only while both the relay and the board are. A board whose
/// MAC or own identifiers are known carries them, so Home Assistant files our announcement and the
/// board's own under one device instead of two.
struct BoardHomeAssistant {
    var board: String
    var kind: BoardDefinition.Kind
    var outputs: [String]
    var inputs: [String]
    var sensors: [(name: String, description: SensorDescription)]
    /// What the board calls a mirrored name, shown by Home Assistant instead of the name.
    var labels: [String: String]
    var connections: [(String, String)]
    var identifiers: [String]
    var relayID: String
    var prefix: String

    var deviceIdentifier: String { HomeAssistantDiscovery.deviceIdentifier(board) }
    var configTopic: String { HomeAssistantDiscovery.configTopic(prefix: prefix, device: board) }
    private var topics: DeviceTopics { DeviceTopics(device: board) }

    var config: JSONValue {
        var components: [JSONMember] = []
        for output in outputs {
            components.append(
                JSONMember(
                    key: output,
                    value: HomeAssistantDiscovery.switchComponent(
                        device: board, name: output, label: labels[output] ?? output, state: topics.state(output), command: topics.command(output))))
        }
        for input in inputs {
            components.append(
                JSONMember(
                    key: input,
                    value: HomeAssistantDiscovery.binarySensorComponent(
                        device: board, name: input, label: labels[input] ?? input, state: topics.state(input))))
        }
        for sensor in sensors {
            var members: [JSONMember] = [
                JSONMember(key: "p", value: .string("sensor")), JSONMember(key: "name", value: .string(labels[sensor.name] ?? sensor.name)),
                JSONMember(key: "uniq_id", value: .string("\(deviceIdentifier)_\(sensor.name)")),
                JSONMember(key: "stat_t", value: .string(topics.state(sensor.name))),
                // An empty value is the board's "no reading": Home Assistant shows unknown.
                JSONMember(key: "val_tpl", value: .string("{{ value if value else 'None' }}")),
                JSONMember(key: "stat_cla", value: .string(sensor.description.stateClass ?? "measurement")),
                JSONMember(key: "qos", value: .number(1)),
            ]
            if let unit = sensor.description.unit { members.append(JSONMember(key: "unit_of_meas", value: .string(unit))) }
            if let deviceClass = sensor.description.deviceClass { members.append(JSONMember(key: "dev_cla", value: .string(deviceClass))) }
            components.append(JSONMember(key: sensor.name, value: .object(members)))
        }
        return .object([
            "dev": HomeAssistantDiscovery.device(
                board, name: board, model: "\(kind.rawValue) board mirrored by gpiobridge", otherIdentifiers: identifiers, via: relayID,
                connections: connections),
            "o": HomeAssistantDiscovery.origin,
            "avty": .array([.object(["t": .string(DeviceTopics(device: relayID).status)]), .object(["t": .string(topics.status)])]),
            "avty_mode": .string("all"),
            "qos": .number(1),
            "cmps": .object(components),
        ])
    }
}
