import JSON

/// Home Assistant's device-based MQTT discovery as every gpiobridge device writes it, agent or
/// mirrored board: one retained config per device at `<prefix>/device/gpiobridge_<id>/config`
/// whose components use the device's gpiobridge topics. Every component says `qos` itself: Home
/// Assistant does not take the device's for its commands, and would send them at QoS 0.
public enum HomeAssistantDiscovery {
    /// Unique per device: Home Assistant ids allow letters, digits, `-` and `_`, as device ids do.
    public static func deviceIdentifier(_ device: String) -> String { "gpiobridge_\(device)" }

    /// Where the device's config is retained.
    public static func configTopic(prefix: String, device: String) -> String {
        "\(prefix)/device/\(deviceIdentifier(device))/config"
    }

    /// Where Home Assistant announces itself; `online` there asks for every config again.
    public static func statusTopic(prefix: String) -> String { "\(prefix)/status" }

    /// An output: `ON` and `OFF` on its state topic, commands on its command topic.
    public static func switchComponent(device: String, name: String, label: String, state: String, command: String) -> JSONValue {
        .object([
            "p": .string("switch"), "name": .string(label), "uniq_id": .string("\(deviceIdentifier(device))_\(name)"),
            "stat_t": .string(state), "cmd_t": .string(command),
            "pl_on": .string(SchemeWord.on), "pl_off": .string(SchemeWord.off), "stat_on": .string(SchemeWord.on),
            "stat_off": .string(SchemeWord.off),
            "qos": .number(1),
        ])
    }

    /// An input: its on and off words on its state topic.
    public static func binarySensorComponent(
        device: String, name: String, label: String, state: String,
        on: String = SchemeWord.on, off: String = SchemeWord.off
    ) -> JSONValue {
        .object([
            "p": .string("binary_sensor"), "name": .string(label), "uniq_id": .string("\(deviceIdentifier(device))_\(name)"),
            "stat_t": .string(state), "pl_on": .string(on), "pl_off": .string(off),
            "qos": .number(1),
        ])
    }

    /// The device block of a config: `device` (the gpiobridge id), the board's own identifiers
    /// and connections (its MAC) so Home Assistant merges our device with the board's, and the
    /// relay it is reached through.
    public static func device(
        _ device: String, name: String, model: String, otherIdentifiers: [String] = [], via: String? = nil,
        connections: [(String, String)] = []
    ) -> JSONValue {
        var members: [JSONMember] = [
            JSONMember(key: "ids", value: .array(([deviceIdentifier(device)] + otherIdentifiers).map { .string($0) })),
            JSONMember(key: "name", value: .string(name)),
            JSONMember(key: "mf", value: .string("gpiobridge")),
            JSONMember(key: "mdl", value: .string(model)),
            JSONMember(key: "sw", value: .string(gpiobridgeVersion)),
        ]
        if let via { members.append(JSONMember(key: "via_device", value: .string(deviceIdentifier(via)))) }
        if !connections.isEmpty {
            members.append(JSONMember(key: "cns", value: .array(connections.map { .array([.string($0.0), .string($0.1)]) })))
        }
        return .object(members)
    }

    /// The origin every config names: gpiobridge and its version.
    public static var origin: JSONValue { .object(["name": .string("gpiobridge"), "sw": .string(gpiobridgeVersion)]) }
}
