import Profile

/// A board the relay mirrors: its name in the gpiobridge scheme, its firmware's dialect, and
/// where the definition came from.
public struct BoardDefinition: Sendable {
    /// The board's firmware, as `fleet ls` and Home Assistant name it.
    public enum Kind: String, Sendable {
        case tasmota, esphome, pubsubclient
    }

    /// The board's name in the gpiobridge scheme: `gpiobridge/<name>/...`.
    public var name: String
    public var kind: Kind
    /// How its firmware's topics and payloads are read and written.
    public var dialect: any BoardDialect
    /// For boards with no will: silence this long means offline.
    public var silenceLimit: Duration?
    /// Home Assistant connections, such as `["mac", "a1b2c3d4e5f6"]`, so that Home Assistant
    /// sees the board's own announcements and ours as one device.
    public var connections: [(String, String)] = []
    /// The board's own Home Assistant device identifiers (ESPHome's), for the same reason.
    public var identifiers: [String] = []
    /// Whether the profile declared it (true) or the board announced itself.
    public var declared: Bool

    /// A board from its parts; `declared` says whether a profile names it.
    public init(name: String, kind: Kind, dialect: any BoardDialect, silenceLimit: Duration? = nil, declared: Bool) {
        self.name = name
        self.kind = kind
        self.dialect = dialect
        self.silenceLimit = silenceLimit
        self.declared = declared
    }

    /// The board a relay profile declares.
    public init(_ settings: BoardSettings) {
        switch settings.flavour {
        case .tasmota(let topic, let fullTopic, let relays, let sensors):
            let dialect = TasmotaDialect(
                topic: topic, fullTopic: fullTopic,
                relays: relays.map { .init(name: $0.name, index: Int($0.board) ?? 1) },
                sensorFields: sensors.map {
                    .init(
                        name: $0.name, path: $0.board.split(separator: ".").map(String.init),
                        profileDescription: SensorDescription(unit: $0.unit, deviceClass: $0.deviceClass))
                })
            self.init(name: settings.name, kind: .tasmota, dialect: dialect, declared: true)
        case .esphome(let prefix, let switches, let binarySensors, let sensors, let silence):
            func entities(_ names: [MirroredName]) -> [ESPHomeDialect.Entity] {
                names.map {
                    .init(
                        name: $0.name, id: $0.board, profileDescription: SensorDescription(unit: $0.unit, deviceClass: $0.deviceClass),
                        stateTopic: $0.stateTopic, commandTopic: $0.commandTopic)
                }
            }
            var dialect = ESPHomeDialect(
                prefix: prefix, switches: entities(switches), binarySensors: entities(binarySensors),
                sensors: entities(sensors))
            dialect.reportsUndeclared = true
            self.init(name: settings.name, kind: .esphome, dialect: dialect, silenceLimit: silence.map { .milliseconds($0) }, declared: true)
        case .pubsubclient(let interval, let silentIntervals, let values, let inputs, let commands, let match):
            let dialect = PubSubClientDialect(
                values: values.map {
                    .init(
                        name: $0.name, topic: $0.topic, jsonPath: $0.jsonPath,
                        description: SensorDescription(unit: $0.unit, deviceClass: $0.deviceClass))
                },
                inputs: inputs.map { .init(name: $0.name, topic: $0.topic, on: $0.on, off: $0.off) },
                commands: commands.map { .init(name: $0.name, topic: $0.topic, on: $0.on, off: $0.off) },
                match: match)
            self.init(
                name: settings.name, kind: .pubsubclient, dialect: dialect,
                silenceLimit: .milliseconds(interval * silentIntervals), declared: true)
        }
    }

    /// What identifies the board on its broker, whatever it is called: two definitions with the
    /// same identity are the same board (a declared board is not mirrored again when it announces
    /// itself).
    var identity: String {
        switch dialect {
        case let tasmota as TasmotaDialect: "tasmota:" + tasmota.topic("", "")
        case let esphome as ESPHomeDialect: "esphome:" + esphome.prefix
        default: "pubsubclient:" + name
        }
    }
}

/// Makes a board's own id fit the gpiobridge scheme: letters, digits, `-` and `_`.
func boardName(_ text: String) -> String {
    let mapped = text.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "_" }
    return mapped.isEmpty ? "board" : String(mapped)
}
