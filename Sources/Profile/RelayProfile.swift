import Hardware
import MQTTCore

/// A relay profile: the ESP8266 boards to mirror into the gpiobridge topic scheme, the broker the
/// fleet lives on, and, if they differ, the broker the boards live on.
public struct RelayProfile: Sendable, Equatable {
    public var source: String
    /// The relay's own name: its client ids and `gpiobridge/<id>/status`.
    public var id: String
    public var fleet: BrokerSettings
    /// nil when the boards live on the fleet's broker.
    public var boardsBroker: BrokerSettings?
    public var boards: [BoardSettings]
    /// Whether boards announcing themselves (Tasmota's and ESPHome's discovery) are mirrored too.
    public var discoverTasmota: Bool
    public var discoverESPHome: Bool
    /// At most this many boards are mirrored from announcements (boards the profile declares are
    /// not counted): a flood of fake announcements cannot grow the relay without bound.
    public var maximumDiscoveredBoards: Int
    /// How many commands may wait for an unavailable board, and for how long.
    public var bufferCapacity: Int
    public var bufferMaximumAgeMilliseconds: Int
    public var homeAssistant: DiscoverySettings
    public var links: [LinkSettings]
}

/// One board and how its firmware speaks.
public struct BoardSettings: Sendable, Equatable {
    public var name: String
    public var flavour: BoardFlavour
    public var origin: SettingLocation
}

/// A name on the gpiobridge side and what it is called on the board.
public struct MirroredName: Sendable, Equatable {
    public var name: String
    /// Tasmota: the relay index or the SENSOR path; ESPHome: the object id.
    public var board: String
    /// A sensor's unit and Home Assistant device class, when the profile says (they win over the board's).
    public var unit: String?
    public var deviceClass: String?
    /// An ESPHome entity's own state and command topics, where its YAML sets them.
    public var stateTopic: String?
    public var commandTopic: String?

    public init(
        name: String, board: String, unit: String? = nil, deviceClass: String? = nil, stateTopic: String? = nil,
        commandTopic: String? = nil
    ) {
        self.name = name
        self.board = board
        self.unit = unit
        self.deviceClass = deviceClass
        self.stateTopic = stateTopic
        self.commandTopic = commandTopic
    }
}

public enum BoardFlavour: Sendable, Equatable {
    case tasmota(topic: String, fullTopic: String, relays: [MirroredName], sensors: [MirroredName])
    /// `silenceMilliseconds` is for a node with birth and will off: silence this long is offline.
    case esphome(prefix: String, switches: [MirroredName], binarySensors: [MirroredName], sensors: [MirroredName], silenceMilliseconds: Int?)
    /// A plain sketch: it publishes every `intervalMilliseconds` and is offline after
    /// `silentIntervals` of them without a message.
    /// With `match`, only JSON messages whose field at `match.path` is `match.value` are the board's.
    case pubsubclient(
        intervalMilliseconds: Int, silentIntervals: Int, values: [PlainValue], inputs: [PlainTopic], commands: [PlainTopic],
        match: PlainMatch?)
}

/// How a sketch that shares its topics with others tells its messages apart: a JSON field and its value.
public struct PlainMatch: Sendable, Equatable {
    public var path: [String]
    public var value: String

    public init(path: [String], value: String) {
        self.path = path
        self.value = value
    }
}

/// A topic a plain sketch publishes numbers on: the whole payload, or the number at `jsonPath`.
public struct PlainValue: Sendable, Equatable {
    /// The mirrored name: `gpiobridge/<board>/<name>`.
    public var name: String
    public var topic: String
    /// Keys down to the number in a JSON payload; empty when the payload is the number.
    public var jsonPath: [String]
    /// Its unit and Home Assistant device class, when the profile says.
    public var unit: String?
    public var deviceClass: String?

    public init(name: String, topic: String, jsonPath: [String] = [], unit: String? = nil, deviceClass: String? = nil) {
        self.name = name
        self.topic = topic
        self.jsonPath = jsonPath
        self.unit = unit
        self.deviceClass = deviceClass
    }
}

/// A raw topic of a plain sketch and its words for ON and OFF: one it publishes (an input) or
/// one it listens on (a command).
public struct PlainTopic: Sendable, Equatable {
    /// The mirrored name: `gpiobridge/<board>/<name>`.
    public var name: String
    public var topic: String
    /// The payload that means ON.
    public var on: String
    /// The payload that means OFF.
    public var off: String

    public init(name: String, topic: String, on: String, off: String) {
        self.name = name
        self.topic = topic
        self.on = on
        self.off = off
    }
}

/// Mirrors one device's state onto another's output: `garage-pi/button` -> `kitchen/light`.
public struct LinkSettings: Sendable, Equatable {
    public var fromDevice: String
    public var fromName: String
    public var toDevice: String
    public var toName: String
    public var origin: SettingLocation
}
