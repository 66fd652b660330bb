import Scheme

/// ESPHome: `<prefix>/switch/<id>/command` in, `<prefix>/switch/<id>/state`,
/// `<prefix>/binary_sensor/<id>/state` and `<prefix>/sensor/<id>/state` out, `<prefix>/status`
/// `online` / `offline` (birth and will, retained). The prefix is the node name unless the node's
/// `mqtt: topic_prefix:` says otherwise.
public struct ESPHomeDialect: BoardDialect {
    /// A component of the node (its object id) mirrored as `name`.
    public struct Entity: Sendable, Equatable {
        public var name: String
        public var id: String
        /// A sensor's unit and classes, from the node's own discovery config.
        public var description: SensorDescription
        /// The entity's `name:` on the node (`Relay #2 (Garage)`), from its discovery config.
        public var label: String?
        /// What the profile says of a sensor's unit and class, over what the node announces.
        public var profileDescription: SensorDescription
        /// The entity's own `state_topic:` and `command_topic:`, where the node's YAML sets them
        /// instead of `<prefix>/<component>/<id>/state` and `.../command`.
        public var stateTopic: String?
        public var commandTopic: String?

        public init(
            name: String, id: String, description: SensorDescription = SensorDescription(), label: String? = nil,
            profileDescription: SensorDescription = SensorDescription(), stateTopic: String? = nil, commandTopic: String? = nil
        ) {
            self.name = name
            self.id = id
            self.description = description
            self.label = label
            self.profileDescription = profileDescription
            self.stateTopic = stateTopic
            self.commandTopic = commandTopic
        }
    }

    public var prefix: String
    /// Whether states of entities it does not name are reported (a declared node: a profile naming
    /// the YAML `id:` instead of the object id would otherwise mirror nothing, silently).
    public var reportsUndeclared = false
    public var switches: [Entity]
    public var binarySensors: [Entity]
    public var sensorEntities: [Entity]

    public init(prefix: String, switches: [Entity], binarySensors: [Entity] = [], sensors: [Entity] = []) {
        self.prefix = prefix
        self.switches = switches
        self.binarySensors = binarySensors
        self.sensorEntities = sensors
    }

    public var subscriptions: [String] {
        let custom = (switches + binarySensors + sensorEntities).compactMap(\.stateTopic)
        return ["\(prefix)/status", "\(prefix)/switch/+/state", "\(prefix)/binary_sensor/+/state", "\(prefix)/sensor/+/state"]
            + Array(Set(custom)).sorted()
    }
    public var outputs: [String] { switches.map(\.name) }
    public var inputs: [String] { binarySensors.map(\.name) }
    public var sensors: [String] { sensorEntities.map(\.name) }

    public func description(ofSensor name: String) -> SensorDescription {
        sensorEntities.first { $0.name == name }.map { $0.description.overridden(by: $0.profileDescription) } ?? SensorDescription()
    }

    public func label(of name: String) -> String? {
        (switches + binarySensors + sensorEntities).first { $0.name == name }?.label
    }

    /// This node with what its announcements say of the entities it declares (by object id):
    /// their names on the node, and the sensors' units and classes.
    func described(by announced: ESPHomeDialect) -> ESPHomeDialect {
        func merge(_ entities: [Entity], _ known: [Entity]) -> [Entity] {
            entities.map { entity in
                guard let match = known.first(where: { $0.id == entity.id }) else { return entity }
                var merged = entity
                merged.description = match.description
                merged.label = match.label
                merged.stateTopic = entity.stateTopic ?? match.stateTopic
                merged.commandTopic = entity.commandTopic ?? match.commandTopic
                return merged
            }
        }
        var described = self
        described.switches = merge(switches, announced.switches)
        described.binarySensors = merge(binarySensors, announced.binarySensors)
        described.sensorEntities = merge(sensorEntities, announced.sensorEntities)
        return described
    }

    public func events(topic: String, payload: String) -> [BoardEvent] {
        if topic == "\(prefix)/status" {
            switch payload {
            case "online": return [.availability(true)]
            case "offline": return [.availability(false)]
            default: return [.malformed(topic: topic, reason: "status says \"\(payload)\", not online or offline")]
            }
        }
        // Entities with a state topic of their own.
        if let entity = switches.first(where: { $0.stateTopic == topic }) ?? binarySensors.first(where: { $0.stateTopic == topic }) {
            guard let on = stateWord(payload) else { return [.malformed(topic: topic, reason: "\"\(payload.prefix(40))\" is not ON or OFF")] }
            return [.state(name: entity.name, on: on)]
        }
        if let entity = sensorEntities.first(where: { $0.stateTopic == topic }) {
            return [reading(payload, for: entity.name) ?? .malformed(topic: topic, reason: "\"\(payload.prefix(40))\" is not a number")]
        }
        // `<prefix>/<component>/<id>/state`, read once instead of spelled out for every entity.
        guard topic.hasPrefix(prefix + "/"), topic.hasSuffix("/state") else { return [] }
        let middle = topic.dropFirst(prefix.count + 1).dropLast("/state".count).split(separator: "/", omittingEmptySubsequences: false)
        guard middle.count == 2 else { return [] }
        let (kind, id) = (middle[0], middle[1])
        if kind == "switch" || kind == "binary_sensor", let entity = (kind == "switch" ? switches : binarySensors).first(where: { $0.id == id }) {
            guard let on = stateWord(payload) else { return [.malformed(topic: topic, reason: "\"\(payload)\" is not ON or OFF")] }
            return [.state(name: entity.name, on: on)]
        }
        if kind == "sensor", let entity = sensorEntities.first(where: { $0.id == id }) {
            // ESPHome publishes `nan` (or `None`, with publish_nan_as_none) for a failed or not-ready sensor.
            return [reading(payload, for: entity.name) ?? .malformed(topic: topic, reason: "\"\(payload.prefix(40))\" is not a number")]
        }
        if reportsUndeclared, ["switch", "binary_sensor", "sensor"].contains(kind) { return [.undeclared("\(kind)/\(id)")] }
        return []
    }

    public func command(_ command: OutputCommand, for name: String, current: Bool?) -> BoardCommandResult {
        guard let entity = switches.first(where: { $0.name == name }) else { return .refused("\(name) is not a switch of this node") }
        let topic = entity.commandTopic ?? "\(prefix)/switch/\(entity.id)/command"
        switch command {
        case .query: return .answerFromRecord
        case .set(let on, nil): return .send([BoardMessage(topic: topic, payload: on ? "ON" : "OFF")])
        case .toggle(nil): return .send([BoardMessage(topic: topic, payload: "TOGGLE")])
        case .set(_, _?), .toggle(_?):
            return .refused("ESPHome switches take no pulse over MQTT; give the switch an on_turn_on delay on the node instead")
        }
    }
}
