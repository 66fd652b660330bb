import Hardware
import MQTTCore

// How a relay profile's YAML becomes a RelayProfile: each section decoded, checked and located.

extension ProfileLoader {
    /// Reads and validates the relay profile at `path`.
    public static func loadRelay(path: String, checkingFiles: Bool = true) throws(ProfileError) -> RelayProfile {
        try decodeRelay(try read(path, what: "relay profile"), file: path, checkingFiles: checkingFiles)
    }

    /// Whether the file at `path` is a relay profile (it has `boards:` or `fleet:` and none of
    /// `device:`, `outputs:`, `inputs:` and `broker:`), so that one command can validate either kind. Unreadable or
    /// malformed files are not: the agent profile's reader reports them.
    public static func isRelayProfile(path: String) -> Bool {
        guard let text = try? readTextFile(path), case .mapping(let pairs)? = (try? YAMLParser.parse(text))??.kind else { return false }
        let keys = Set(pairs.compactMap { $0.key.scalar })
        return !keys.isDisjoint(with: ["boards", "fleet"]) && keys.isDisjoint(with: ["device", "outputs", "inputs", "broker"])
    }

    /// Validates relay profile `text`; `file` names it in issues.
    public static func decodeRelay(_ text: String, file: String, checkingFiles: Bool = true) throws(ProfileError) -> RelayProfile {
        let root = try document(text, file: file, emptyHint: "start from Profiles/fleet.yml")
        let decoder = ProfileDecoder(file: file, checksFiles: checkingFiles)
        return try decoder.finish(decoder.relayProfile(root))
    }
}

extension ProfileDecoder {
    func relayProfile(_ root: YAMLNode) -> RelayProfile? {
        let sections = ["relay", "fleet", "boards_broker", "boards", "discover", "buffer", "discovery", "links"]
        guard let top = fields(root, path: "", known: sections) else { return nil }
        var id = "relay"
        if let relay = top["relay"], let fields = fields(relay, path: "relay", known: ["id"]) {
            id = identifier(fields, "id") ?? id
        }
        let fleet = broker(top["fleet"], deviceID: id, path: "fleet")
        let boardsBroker = top["boards_broker"].flatMap { broker($0, deviceID: "\(id)-boards", path: "boards_broker") }
        let boards = list(top, "boards").compactMap { board($0.node, path: $0.path) }
        var discoverTasmota = false
        var discoverESPHome = false
        var maximumDiscovered = 1000
        if let node = top["discover"], let fields = fields(node, path: "discover", known: ["tasmota", "esphome", "max_boards"]) {
            discoverTasmota = bool(fields, "tasmota") ?? false
            discoverESPHome = bool(fields, "esphome") ?? false
            maximumDiscovered = int(fields, "max_boards", in: 0...100_000) ?? maximumDiscovered
        }
        var capacity = 100
        var maximumAge = 300_000
        if let node = top["buffer"], let fields = fields(node, path: "buffer", known: ["commands", "max_age"]) {
            capacity = int(fields, "commands", in: 0...100_000) ?? capacity
            maximumAge = duration(fields, "max_age", in: 0...86_400_000) ?? maximumAge
        }
        let homeAssistant = discovery(top["discovery"], path: "discovery")
        let links = list(top, "links").compactMap { link($0.node, path: $0.path) }
        guard let fleet, let homeAssistant else { return nil }
        var names: [String: SettingLocation] = [:]
        for board in boards {
            if let first = names[board.name] {
                issue(
                    at: board.origin.location(of: "name"), "\(board.origin.path).name",
                    "the board name \"\(board.name)\" is already used by \(first.path) (line \(first.location.line))",
                    hint: "give each board its own name")
            }
            if board.name == id {
                issue(
                    at: board.origin.location(of: "name"), "\(board.origin.path).name",
                    "the board name \"\(board.name)\" is the relay's own id: both would publish gpiobridge/\(id)/status",
                    hint: "rename the board, or set relay: {id: ...}")
            }
            names[board.name] = board.origin
        }
        return RelayProfile(
            source: file, id: id, fleet: fleet, boardsBroker: boardsBroker, boards: boards, discoverTasmota: discoverTasmota,
            discoverESPHome: discoverESPHome, maximumDiscoveredBoards: maximumDiscovered, bufferCapacity: capacity,
            bufferMaximumAgeMilliseconds: maximumAge,
            homeAssistant: homeAssistant, links: links)
    }

    private func board(_ node: YAMLNode, path: String) -> BoardSettings? {
        let flavours = ["tasmota", "esphome", "pubsubclient"]
        guard let fields = fields(node, path: path, known: ["name"] + flavours) else { return nil }
        let name = required(fields, "name", hint: "add name: kitchen").flatMap { _ in identifier(fields, "name") }
        let given = flavours.filter { fields.has($0) }
        guard given.count == 1 else {
            issue(
                at: fields.location, path, given.isEmpty ? "says nothing about the board's firmware" : "names more than one firmware",
                hint: "give exactly one of tasmota:, esphome: or pubsubclient:")
            return nil
        }
        let flavourPath = fields.path(given[0])
        let flavour: BoardFlavour?
        switch given[0] {
        case "tasmota":
            flavour = self.fields(fields["tasmota"]!, path: flavourPath, known: ["topic", "full_topic", "relays", "sensors"]).flatMap { tasmota in
                guard required(tasmota, "topic", hint: "add topic: tasmota_A1B2C3 (the board's Topic)") != nil,
                    let topic = string(tasmota, "topic")
                else { return nil }
                guard TopicName.isPlainPrefix(topic) else {
                    issue(
                        tasmota, "topic", "\"\(topic)\" cannot be part of a topic: it has +, # or an empty level",
                        hint: "write the board's Topic, such as tasmota_A1B2C3")
                    return nil
                }
                let fullTopic = string(tasmota, "full_topic") ?? "%prefix%/%topic%/"
                if !fullTopic.contains("%prefix%") || !fullTopic.contains("%topic%") {
                    issue(tasmota, "full_topic", "a FullTopic needs %prefix% and %topic%", hint: "Tasmota's default is %prefix%/%topic%/")
                }
                let relays = names(tasmota, "relays", expected: "a relay number (POWER1 is 1, up to 32)") { text in
                    Int(text).flatMap { (1...32).contains($0) ? text : nil }
                }
                return .tasmota(
                    topic: topic, fullTopic: fullTopic, relays: relays, sensors: entityNames(tasmota, "sensors", boardKey: "field", sensor: true))
            }
        case "esphome":
            flavour = self.fields(
                fields["esphome"]!, path: flavourPath, known: ["node", "prefix", "switches", "binary_sensors", "sensors", "silence"]
            ).flatMap { node in
                guard required(node, "node", hint: "add node: porch (the node's name)") != nil, let name = string(node, "node") else { return nil }
                let prefix = string(node, "prefix") ?? name
                guard TopicName.isPlainPrefix(prefix) else {
                    issue(
                        node, node.has("prefix") ? "prefix" : "node", "\"\(prefix)\" cannot be a topic prefix: it has +, # or an empty level",
                        hint: "write the node's name, such as porch")
                    return nil
                }
                return .esphome(
                    prefix: prefix, switches: entityNames(node, "switches", topics: ["state_topic", "command_topic"]),
                    binarySensors: entityNames(node, "binary_sensors", topics: ["state_topic"]),
                    sensors: entityNames(node, "sensors", topics: ["state_topic"], sensor: true),
                    silenceMilliseconds: duration(node, "silence", in: 1000...86_400_000))
            }
        default:
            flavour = self.fields(
                fields["pubsubclient"]!, path: flavourPath, known: ["interval", "silent_intervals", "values", "inputs", "commands", "match"]
            ).flatMap { sketch in
                guard required(sketch, "interval", hint: "add interval: 3s (how often the sketch publishes)") != nil,
                    let interval = duration(sketch, "interval", in: 100...86_400_000)
                else { return nil }
                var values: [PlainValue] = []
                for (key, node) in entries(sketch, "values") {
                    let path = sketch.path("values") + "." + key
                    if let topic = node.scalar {
                        guard TopicName.isValid(topic) else {
                            issue(at: node.location, path, "\(node.summary) is not a topic without wildcards")
                            continue
                        }
                        values.append(PlainValue(name: key, topic: topic))
                    } else if let value = self.fields(node, path: path, known: ["topic", "json", "unit", "device_class"]),
                        let topic = required(value, "topic", hint: "add topic: sensors/living").flatMap({ _ in plainTopic(value) })
                    {
                        let (unit, deviceClass) = sensorClass(value)
                        values.append(
                            PlainValue(
                                name: key, topic: topic, jsonPath: string(value, "json").map { $0.split(separator: ".").map(String.init) } ?? [],
                                unit: unit, deviceClass: deviceClass))
                    }
                }
                func words(_ section: String, defaults: (String, String), hint: String) -> [PlainTopic] {
                    entries(sketch, section).compactMap { key, node in
                        if let topic = node.scalar { return PlainTopic(name: key, topic: topic, on: defaults.0, off: defaults.1) }
                        guard let entry = self.fields(node, path: sketch.path(section) + "." + key, known: ["topic", "on", "off"]),
                            let topic = required(entry, "topic", hint: hint).flatMap({ _ in plainTopic(entry) })
                        else { return nil }
                        return PlainTopic(name: key, topic: topic, on: string(entry, "on") ?? defaults.0, off: string(entry, "off") ?? defaults.1)
                    }
                }
                let inputs = words("inputs", defaults: ("ON", "OFF"), hint: "add topic: home/door")
                let commands = words("commands", defaults: ("1", "0"), hint: "add topic: test")
                var match: PlainMatch?
                if let node = sketch["match"], let entry = self.fields(node, path: sketch.path("match"), known: ["json", "equals"]),
                    required(entry, "json", hint: "add json: board (the field that names the sketch)") != nil,
                    required(entry, "equals", hint: "add equals: kitchen (this sketch's value of it)") != nil,
                    let path = string(entry, "json"), let value = string(entry, "equals")
                {
                    match = PlainMatch(path: path.split(separator: ".").map(String.init), value: value)
                }
                return .pubsubclient(
                    intervalMilliseconds: interval, silentIntervals: int(sketch, "silent_intervals", in: 1...1000) ?? 3,
                    values: values, inputs: inputs, commands: commands, match: match)
            }
        }
        guard let name, let flavour else { return nil }
        return BoardSettings(name: name, flavour: flavour, origin: fields.origin)
    }

    /// A `topic:` without wildcards.
    private func plainTopic(_ fields: Fields) -> String? {
        guard let topic = string(fields, "topic") else { return nil }
        guard TopicName.isValid(topic) else {
            issue(fields, "topic", "\"\(topic)\" is not a topic without wildcards")
            return nil
        }
        return topic
    }

    /// A mapping of gpiobridge names to the board's names; `check` accepts or rejects each board name.
    private func names(_ fields: Fields, _ key: String, expected: String = "a name on the board", _ check: (String) -> String?)
        -> [MirroredName]
    {
        entries(fields, key).compactMap { name, node in
            guard let text = node.scalar, let board = check(text) else {
                issue(at: node.location, fields.path(key) + "." + name, "\(node.summary) is not \(expected)")
                return nil
            }
            return MirroredName(name: name, board: board)
        }
    }

    /// Entities by their name on the board: `temperature: BME280.Temperature`, or in full, with what
    /// Home Assistant should show of a sensor and an ESPHome entity's own topics:
    /// `temperature: {field: BME280.Temperature, unit: °F, device_class: temperature}`,
    /// `light: {id: relay_1, state_topic: porch/light, command_topic: porch/light/set}`.
    private func entityNames(_ fields: Fields, _ key: String, boardKey: String = "id", topics: [String] = [], sensor: Bool = false) -> [MirroredName]
    {
        entries(fields, key).compactMap { name, node in
            if let text = node.scalar { return MirroredName(name: name, board: text) }
            let known = [boardKey] + topics + (sensor ? ["unit", "device_class"] : [])
            guard let entry = self.fields(node, path: fields.path(key) + "." + name, known: known),
                required(entry, boardKey, hint: "add \(boardKey): (its name on the board)") != nil, let board = string(entry, boardKey)
            else { return nil }
            let (unit, deviceClass) = sensor ? sensorClass(entry) : (nil, nil)
            func topic(_ key: String) -> String? {
                guard let text = string(entry, key) else { return nil }
                guard TopicName.isValid(text) else {
                    issue(entry, key, "\"\(text)\" is not a topic without wildcards")
                    return nil
                }
                return text
            }
            return MirroredName(
                name: name, board: board, unit: unit, deviceClass: deviceClass, stateTopic: topic("state_topic"),
                commandTopic: topic("command_topic"))
        }
    }

    /// A sensor's `unit:` and `device_class:`, checked against what Home Assistant takes.
    private func sensorClass(_ entry: Fields) -> (unit: String?, deviceClass: String?) {
        let unit = string(entry, "unit")
        let deviceClass = string(entry, "device_class")
        if let deviceClass, !SensorClassCatalog.numericClasses.contains(deviceClass) {
            issue(
                entry, "device_class", "\"\(deviceClass)\" is not a Home Assistant device class for numbers",
                hint: "use one such as temperature, humidity, pressure, power or energy, or leave it out")
        } else if let deviceClass, let unit, let units = SensorClassCatalog.units[deviceClass], !units.contains(unit) {
            issue(entry, "unit", "Home Assistant does not take \(unit) for \(deviceClass)", hint: "use \(units.joined(separator: ", "))")
        }
        return (unit, deviceClass)
    }

    private func entries(_ fields: Fields, _ key: String) -> [(String, YAMLNode)] {
        guard let node = fields[key] else { return [] }
        guard case .mapping(let pairs) = node.kind else {
            issue(fields, key, "expected a mapping of names, such as light: 1")
            return []
        }
        return pairs.compactMap { pair in
            guard let name = pair.key.scalar else { return nil }
            return (name, pair.value)
        }
    }

    private func link(_ node: YAMLNode, path: String) -> LinkSettings? {
        guard let fields = fields(node, path: path, known: ["from", "to"]) else { return nil }
        func split(_ key: String) -> (String, String)? {
            guard required(fields, key, hint: "add \(key): device/name") != nil, let text = string(fields, key) else { return nil }
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                issue(fields, key, "\"\(text)\" is not device/name", hint: "write garage-pi/button")
                return nil
            }
            return (String(parts[0]), String(parts[1]))
        }
        guard let from = split("from"), let to = split("to") else { return nil }
        if from == to { issue(fields, "to", "a link cannot point at itself") }
        return LinkSettings(fromDevice: from.0, fromName: from.1, toDevice: to.0, toName: to.1, origin: fields.origin)
    }
}
