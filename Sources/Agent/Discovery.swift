import Hardware
import JSON
import Profile
import Scheme

/// Home Assistant MQTT discovery for one agent, device-based: one retained config per device at
/// `<prefix>/device/gpiobridge_<device id>/config` that lists its components (outputs as
/// switches, inputs as binary sensors, one sensor per measured quantity).
public struct Discovery: Sendable {
    public let profile: Profile

    public init(profile: Profile) {
        self.profile = profile
    }

    public var deviceIdentifier: String { HomeAssistantDiscovery.deviceIdentifier(profile.device.id) }

    public var configTopic: String { HomeAssistantDiscovery.configTopic(prefix: profile.discovery.prefix, device: profile.device.id) }

    /// Where Home Assistant announces itself; `online` there asks for the configs again.
    public var homeAssistantStatusTopic: String { HomeAssistantDiscovery.statusTopic(prefix: profile.discovery.prefix) }

    /// The component ids and their configs. An id is stable across restarts and reloads, so
    /// Home Assistant keeps the entity and its history.
    public var components: [(id: String, config: JSONValue)] {
        var components: [(String, JSONValue)] = []
        for output in profile.outputs {
            components.append(
                (
                    output.name,
                    HomeAssistantDiscovery.switchComponent(
                        device: profile.device.id, name: output.name, label: output.name, state: output.stateTopic, command: output.commandTopic)
                ))
        }
        for input in profile.inputs {
            components.append(
                (
                    input.name,
                    HomeAssistantDiscovery.binarySensorComponent(
                        device: profile.device.id, name: input.name, label: input.name, state: input.stateTopic, on: input.onPayload,
                        off: input.offPayload)
                ))
        }
        for sensor in profile.sensors {
            for quantity in sensor.model.quantities {
                let id = "\(sensor.name)_\(quantity.rawValue)"
                var members: [JSONMember] = [
                    JSONMember(key: "p", value: .string("sensor")),
                    JSONMember(key: "name", value: .string("\(sensor.name) \(quantity.rawValue.replacingUnderscores())")),
                    JSONMember(key: "uniq_id", value: .string("\(deviceIdentifier)_\(id)")),
                    JSONMember(key: "stat_t", value: .string(sensor.stateTopic)),
                    JSONMember(key: "val_tpl", value: .string("{{ value_json.\(quantity.rawValue) }}")),
                    JSONMember(key: "unit_of_meas", value: .string(unit(quantity, sensor).rawValue)),
                    JSONMember(key: "stat_cla", value: .string("measurement")),
                    JSONMember(key: "qos", value: .number(1)),
                ]
                if let deviceClass = deviceClass(quantity, unit(quantity, sensor)) {
                    members.insert(JSONMember(key: "dev_cla", value: .string(deviceClass)), at: 3)
                }
                components.append((id, .object(members)))
            }
        }
        for publisher in profile.publishers where publisher.announce {
            var members: [JSONMember] = [
                JSONMember(key: "p", value: .string("sensor")),
                JSONMember(key: "name", value: .string(publisher.name)),
                JSONMember(key: "uniq_id", value: .string("\(deviceIdentifier)_\(publisher.name)")),
                JSONMember(key: "stat_t", value: .string(publisher.topic)),
                JSONMember(key: "qos", value: .number(1)),
            ]
            switch publisher.value {
            case .uptime:
                members.append(JSONMember(key: "dev_cla", value: .string("duration")))
                members.append(JSONMember(key: "stat_cla", value: .string("total_increasing")))
            case .random: members.append(JSONMember(key: "stat_cla", value: .string("measurement")))
            case .constant: break
            }
            if let unit = publisher.unit { members.append(JSONMember(key: "unit_of_meas", value: .string(unit))) }
            components.append((publisher.name, .object(members)))
        }
        return components
    }

    /// The device's config; `removed` lists component ids to remove (sent with their platform only).
    /// Every component says `qos` itself: Home Assistant does not take the device's for its
    /// commands, and would send them at QoS 0.
    public func config(removing removed: [(id: String, platform: String)] = []) -> JSONValue {
        var members = components.map { JSONMember(key: $0.id, value: $0.config) }
        members += removed.map { JSONMember(key: $0.id, value: .object(["p": .string($0.platform)])) }
        return .object([
            "dev": HomeAssistantDiscovery.device(profile.device.id, name: profile.device.name, model: "gpiobridge agent"),
            "o": HomeAssistantDiscovery.origin,
            "avty_t": .string(profile.statusTopic),
            "pl_avail": .string(SchemeWord.online),
            "pl_not_avail": .string(SchemeWord.offline),
            "qos": .number(1),
            "cmps": .object(members),
        ])
    }

    /// The components of `old` that this profile no longer has, with their platforms.
    public func removedComponents(since old: Discovery) -> [(id: String, platform: String)] {
        let current = Set(components.map(\.id))
        return old.components.compactMap { component in
            guard !current.contains(component.id), case .string(let platform)? = component.config["p"] else { return nil }
            return (component.id, platform)
        }
    }

    private func unit(_ quantity: SensorQuantity, _ sensor: SensorSettings) -> MeasurementUnit {
        sensor.units[quantity] ?? MeasurementUnit.units(for: quantity)[0]
    }

    /// Home Assistant's class for the quantity, when it accepts the unit for that class (2025.1
    /// warns about mW for power, so a power in mW is announced without a class).
    private func deviceClass(_ quantity: SensorQuantity, _ unit: MeasurementUnit) -> String? {
        if quantity == .power && unit == .milliwatt { return nil }
        return switch quantity {
        case .temperature: "temperature"
        case .humidity: "humidity"
        case .pressure: "pressure"
        case .illuminance: "illuminance"
        case .voltage, .shuntVoltage: "voltage"
        case .current: "current"
        case .power: "power"
        }
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(map { $0 == "_" ? " " : $0 }) }
}
