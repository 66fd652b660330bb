import JSON
import MQTT

/// A Tasmota board's announcement on `tasmota/discovery/<MAC>/config` (retained), as far as the
/// relay needs it: its topic, FullTopic, prefixes and relays. The sensors come separately, on
/// `tasmota/discovery/<MAC>/sensors`.
struct TasmotaAnnouncement: Equatable {
    var topic: String
    var fullTopic: String
    var prefixes: [String]
    /// The POWERn indexes that are relays or lights (`rl` 1 or 2).
    var relayIndexes: [Int]
    /// Relays announced beyond POWER32, which Tasmota does not have: not mirrored.
    var ignoredRelays = 0

    static let maximumRelays = 32

    static let configFilter = "tasmota/discovery/+/config"
    static let sensorsFilter = "tasmota/discovery/+/sensors"

    /// The MAC in `tasmota/discovery/<MAC>/config` or `.../sensors`, or nil for other topics.
    static func mac(in topic: String, suffix: String) -> String? {
        guard topic.hasPrefix("tasmota/discovery/") else { return nil }
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard levels.count == 4, levels[0] == "tasmota", levels[1] == "discovery", levels[3] == suffix, !levels[2].isEmpty else { return nil }
        return String(levels[2])
    }

    /// Reads the config; throws a reason a user can act on when it is not one.
    init(mac: String, payload: String) throws(AnnouncementError) {
        let json: JSONValue
        do { json = try JSONValue(parsing: payload) } catch { throw AnnouncementError("malformed JSON: \(error)") }
        guard case .string(let topic)? = json["t"], !topic.isEmpty else { throw AnnouncementError("it has no topic (\"t\")") }
        // Topics are built from these: a wildcard or an empty level would widen a subscription.
        guard TopicName.isPlainPrefix(topic) else {
            throw AnnouncementError("its topic \(quotedExcerpt(topic)) has +, # or an empty level")
        }
        self.topic = topic
        if case .string(var fullTopic)? = json["ft"], fullTopic.contains("%prefix%") {
            // The board's own placeholders are known from its announcement: its host name and the
            // last six hex digits of its MAC.
            if case .string(let hostname)? = json["hn"] { fullTopic = fullTopic.replacing("%hostname%", with: hostname) }
            fullTopic = fullTopic.replacing("%id%", with: String(mac.suffix(6)))
            self.fullTopic = fullTopic
        } else {
            self.fullTopic = "%prefix%/%topic%/"
        }
        var prefixes = ["cmnd", "stat", "tele"]
        if case .array(let given)? = json["tp"], given.count == 3 {
            let words = given.compactMap { if case .string(let word) = $0, !word.isEmpty { word } else { nil } }
            if words.count == 3 { prefixes = words }
        }
        guard prefixes.allSatisfy(TopicName.isPlainPrefix) else {
            throw AnnouncementError("its prefixes (\"tp\") have +, # or an empty level")
        }
        let spelled = fullTopic.replacing("%prefix%", with: "p").replacing("%topic%", with: "t")
        guard TopicName.isPlainPrefix(spelled.hasSuffix("/") ? String(spelled.dropLast()) : spelled) else {
            throw AnnouncementError("its FullTopic \(quotedExcerpt(fullTopic)) has +, # or an empty level")
        }
        self.prefixes = prefixes
        var relayIndexes: [Int] = []
        if case .array(let kinds)? = json["rl"] {
            for (offset, kind) in kinds.enumerated() {
                guard case .number(let value) = kind, value == 1 || value == 2 else { continue }
                if offset < Self.maximumRelays { relayIndexes.append(offset + 1) } else { ignoredRelays += 1 }
            }
        }
        self.relayIndexes = relayIndexes
    }

    /// The units a `sensors` announcement names (`"TempUnit": "C"` beside the readings).
    static func units(payload: String) -> [String: String] {
        guard case .object(let members)? = (try? JSONValue(parsing: payload))?["sn"] else { return [:] }
        var units: [String: String] = [:]
        for member in members where member.key.hasSuffix("Unit") {
            if case .string(let unit) = member.value { units[member.key] = unit }
        }
        return units
    }

    /// The numeric fields of a `sensors` announcement (`{"sn": {"BME280": {"Temperature": 21.5}}}`),
    /// each named by its path in lower case: `bme280_temperature`.
    static func sensorFields(payload: String) throws(AnnouncementError) -> [TasmotaDialect.SensorField] {
        let json: JSONValue
        do { json = try JSONValue(parsing: payload) } catch { throw AnnouncementError("malformed JSON: \(error)") }
        guard case .object(let members)? = json["sn"] else { throw AnnouncementError("it has no sensor readings (\"sn\")") }
        var fields: [TasmotaDialect.SensorField] = []
        func walk(_ members: [JSONMember], _ path: [String]) {
            for member in members {
                switch member.value {
                case .number:
                    fields.append(.init(name: boardName((path + [member.key]).joined(separator: "_").lowercased()), path: path + [member.key]))
                case .object(let inner): walk(inner, path + [member.key])
                default: break
                }
            }
        }
        walk(members, [])
        return fields
    }

    func dialect(sensors: [TasmotaDialect.SensorField], units: [String: String]) -> TasmotaDialect {
        var dialect = TasmotaDialect(
            topic: topic, fullTopic: fullTopic, relays: relayIndexes.map { .init(name: "relay\($0)", index: $0) },
            sensorFields: sensors, prefixes: (prefixes[0], prefixes[1], prefixes[2]))
        dialect.units = units
        return dialect
    }
}

/// One component of an ESPHome node, from its Home Assistant discovery config on
/// `homeassistant/<component>/<node>/<object_id>/config`. ESPHome abbreviates keys
/// (`stat_t`, `cmd_t`, `avty_t`, `dev`); both spellings are read, and `~` is expanded.
struct ESPHomeAnnouncement: Equatable {
    enum Component: String {
        case `switch`
        case binarySensor = "binary_sensor"
        case sensor
    }

    var component: Component
    var objectID: String
    /// The node's topic prefix, from its state topic `<prefix>/<component>/<id>/state`.
    var prefix: String
    /// The device's identifiers, shared with Home Assistant's record of the node.
    var identifiers: [String]
    /// A sensor's unit and classes, as the node announces them.
    var description = SensorDescription()
    /// The entity's name on the node, which Home Assistant shows.
    var label: String?
    /// Whether the config names an availability topic: a node with birth and will off has none.
    var announcesStatus = true
    /// The entity's own state and command topics, where its YAML sets them.
    var customStateTopic: String?
    var customCommandTopic: String?

    static let filters = ["homeassistant/+/+/+/config"]

    /// The configs of one node.
    static func filter(node: String) -> String { "homeassistant/+/\(node)/+/config" }

    /// Whether a config comes from ESPHome: its software or manufacturer says so (older nodes write
    /// `esphome v2024.6.1`, newer ones a bare version with ESPHome in brackets or nothing), or it
    /// has ESPHome's shape: a unique id `ESP<component>…` and the availability `<prefix>/status`.
    /// gpiobridge's own configs never are.
    static func isESPHome(_ config: JSONValue, device: JSONValue?) -> Bool {
        func text(_ value: JSONValue?) -> String? { if case .string(let text)? = value { text.lowercased() } else { nil } }
        let manufacturer = text(device?["mf"] ?? device?["manufacturer"])
        if manufacturer == "gpiobridge" { return false }
        if text(device?["sw"] ?? device?["sw_version"])?.contains("esphome") == true || manufacturer == "espressif" { return true }
        if text(config["o"]?["name"] ?? config["origin"]?["name"]) == "esphome" { return true }
        guard let uniqueID = text(config["uniq_id"] ?? config["unique_id"]), uniqueID.hasPrefix("esp"),
            let availability = text(config["avty_t"] ?? config["availability_topic"]), availability.hasSuffix("/status")
        else { return false }
        return true
    }

    /// Reads a config; nil when it is not an ESPHome component the relay mirrors (another
    /// firmware's, a gpiobridge device's own, or a component kind without ON/OFF or a number).
    /// Throws when it claims to be ESPHome's and cannot be read.
    init?(topic: String, payload: String) throws(AnnouncementError) {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard levels.count == 5, levels[0] == "homeassistant", levels[4] == "config",
            let component = Component(rawValue: String(levels[1]))
        else { return nil }
        guard !payload.isEmpty else { return nil }
        guard case .object(var members)? = try? JSONValue(parsing: payload) else {
            throw AnnouncementError("malformed JSON")
        }
        let object = JSONValue.object(members)
        let device = object["dev"] ?? object["device"]
        guard Self.isESPHome(object, device: device) else { return nil }
        // `~` stands for a base topic in values that start or end with it.
        if case .string(let base)? = JSONValue.object(members)["~"] {
            members = members.map { member in
                guard case .string(let text) = member.value else { return member }
                if text.hasPrefix("~") { return JSONMember(key: member.key, value: .string(base + text.dropFirst())) }
                if text.hasSuffix("~") { return JSONMember(key: member.key, value: .string(text.dropLast() + base)) }
                return member
            }
        }
        let config = JSONValue.object(members)
        guard case .string(let stateTopic)? = config["stat_t"] ?? config["state_topic"] else {
            throw AnnouncementError("ESPHome component \(levels[3]) has no state topic")
        }
        // The node's topics are built from it: a wildcard or an empty level would widen a subscription.
        guard TopicName.isPlainPrefix(stateTopic) else {
            throw AnnouncementError("ESPHome component \(levels[3]) has the state topic \(quotedExcerpt(stateTopic)), with +, # or an empty level")
        }
        let stateLevels = stateTopic.split(separator: "/", omittingEmptySubsequences: false)
        self.component = component
        if stateLevels.count >= 4, stateLevels.last == "state", stateLevels[stateLevels.count - 3] == levels[1] {
            objectID = String(stateLevels[stateLevels.count - 2])
            prefix = stateLevels.dropLast(3).joined(separator: "/")
        } else {
            // The entity's own state_topic: its object id is the config's, the node's prefix its
            // status topic's (else the node's name).
            objectID = String(levels[3])
            if case .string(let availability)? = config["avty_t"] ?? config["availability_topic"], availability.hasSuffix("/status"),
                TopicName.isPlainPrefix(String(availability.dropLast("/status".count)))
            {
                prefix = String(availability.dropLast("/status".count))
            } else {
                prefix = String(levels[2])
            }
            customStateTopic = stateTopic
        }
        if component == .switch, case .string(let command)? = config["cmd_t"] ?? config["command_topic"],
            command != "\(prefix)/switch/\(objectID)/command"
        {
            guard TopicName.isValid(command) else {
                throw AnnouncementError("ESPHome component \(levels[3]) has the command topic \(quotedExcerpt(command)), with + or #")
            }
            customCommandTopic = command
        }
        var identifiers: [String] = []
        switch device?["ids"] ?? device?["identifiers"] {
        case .string(let id)?: identifiers = [id]
        case .array(let ids)?: identifiers = ids.compactMap { if case .string(let id) = $0 { id } else { nil } }
        default: break
        }
        self.identifiers = identifiers
        func text(_ short: String, _ long: String) -> String? {
            if case .string(let text)? = config[short] ?? config[long], !text.isEmpty { text } else { nil }
        }
        description = SensorDescription(
            unit: text("unit_of_meas", "unit_of_measurement"), deviceClass: text("dev_cla", "device_class"),
            stateClass: text("stat_cla", "state_class"))
        if case .string(let name)? = config["name"], !name.isEmpty { label = name }
        announcesStatus = ["avty_t", "availability_topic", "avty", "availability"].contains { config[$0] != nil }
    }
}

/// Why a board's announcement was not understood.
struct AnnouncementError: Error, Sendable, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
