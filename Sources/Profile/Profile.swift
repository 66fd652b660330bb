import Hardware
import MQTTCore
import Scheme

/// A validated profile: what the agent drives, where it connects, and what it publishes. Every
/// default is filled in, so ``ProfileDescription`` can show exactly what will run.
public struct Profile: Sendable, Equatable {
    /// The file it came from.
    public var source: String
    public var broker: BrokerSettings
    public var device: DeviceSettings
    public var expanders: [ExpanderSettings]
    public var outputs: [OutputSettings]
    public var inputs: [InputSettings]
    public var sensors: [SensorSettings]
    public var publishers: [PublisherSettings]
    public var subscriptions: [SubscriptionSettings]
    public var safety: SafetySettings
    public var discovery: DiscoverySettings
}

/// The broker connection. The password never sits in the profile itself.
public struct BrokerSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var tls: TLSSettings?
    public var username: String?
    public var password: PasswordSource?
    public var clientID: String
    public var keepAliveSeconds: Int
    /// nil: 5.0, falling back to 3.1.1 when the broker refuses it.
    public var version: MQTTVersion?
    /// How long the broker keeps our session (and the QoS 1/2 commands queued for us) while we
    /// are away. 0 starts a clean session at every connect.
    public var sessionExpirySeconds: UInt32
    /// The bounds of the backoff while the broker cannot be reached (a lost connection is retried
    /// at once; a broker that refuses us is backed off from 1 s to 60 s at least).
    public var reconnectMinimumMilliseconds: Int
    public var reconnectMaximumMilliseconds: Int
}

public struct TLSSettings: Sendable, Equatable {
    public var caFile: String?
    public var certificateFile: String?
    public var keyFile: String?
    public var insecure: Bool
}

/// Where the broker password comes from.
public enum PasswordSource: Sendable, Equatable, CustomStringConvertible {
    /// The first line of a file (`password_file`).
    case file(String)
    /// An environment variable (`password_env`).
    case environment(String)
    /// A systemd credential (`password_credential`): `$CREDENTIALS_DIRECTORY/<name>`.
    case credential(String)

    public var description: String {
        switch self {
        case .file(let path): "file \(path)"
        case .environment(let name): "environment variable \(name)"
        case .credential(let name): "systemd credential \(name)"
        }
    }
}

public struct DeviceSettings: Sendable, Equatable {
    /// Letters, digits, `-` and `_`: it appears in topics and Home Assistant ids.
    public var id: String
    public var name: String
    /// `gpiobridge/<id>` unless the profile says otherwise.
    public var baseTopic: String
}

/// A GPIO line as a profile names it.
public enum LineReference: Sendable, Hashable, CustomStringConvertible {
    /// The kernel's line name, such as `GPIO17`, or an expander pin name such as `GPA0`.
    case name(String)
    case chipOffset(chip: String, offset: Int)

    /// The form `GPIOChips.resolve(_:)` takes.
    public var description: String {
        switch self {
        case .name(let name): name
        case .chipOffset(let chip, let offset): "\(chip):\(offset)"
        }
    }
}

/// Where a setting was written, for errors found after validation (a busy line at apply time).
public struct SettingLocation: Sendable, Hashable {
    public var location: SourceLocation
    /// `outputs[2]`.
    public var path: String
    /// Where each of the item's settings is written.
    public var keys: [String: SourceLocation] = [:]

    /// Where `key`'s value is written, or the item itself when the key was left to its default.
    public func location(of key: String) -> SourceLocation { keys[key] ?? location }
}

/// An I²C expander whose pins become lines.
public struct ExpanderSettings: Sendable, Equatable {
    public var specification: ExpanderSpecification
    public var origin: SettingLocation
}

public enum InitialState: String, Sendable, Equatable, CaseIterable {
    case off
    case on
    /// The last state the broker retained for the output, else off.
    case restore
}

public enum SafeState: String, Sendable, Equatable, CaseIterable {
    case off
    case on
    /// Leave the line as it is.
    case keep
}

public struct OutputSettings: Sendable, Equatable {
    public var name: String
    public var line: LineReference
    public var activeLow: Bool
    public var drive: LineDrive
    public var initial: InitialState
    public var safeState: SafeState
    /// Every ON ends after this long (a momentary channel, such as a door opener).
    public var pulseMilliseconds: Int?
    /// Outputs that are switched off before this one goes on, and never on together with it.
    public var interlock: [String]
    public var stateTopic: String
    public var commandTopic: String
    public var origin: SettingLocation
}

public struct InputSettings: Sendable, Equatable {
    public var name: String
    public var line: LineReference
    public var bias: LineBias
    public var activeLow: Bool
    public var edge: LineEdge
    public var debounceMilliseconds: Int
    public var onPayload: String
    public var offPayload: String
    public var stateTopic: String
    public var origin: SettingLocation
}

public struct SensorSettings: Sendable, Equatable {
    public var name: String
    public var model: SensorModel
    public var bus: Int
    public var address: UInt8
    public var intervalMilliseconds: Int
    public var options: SensorOptions
    /// The unit each of the model's quantities is published in (its default unless the profile says).
    public var units: [SensorQuantity: MeasurementUnit]
    public var stateTopic: String
    public var origin: SettingLocation
}

/// What a publisher sends.
public enum PublishedValue: Sendable, Equatable {
    /// A random whole number in `min...max`, as the ESP8266 tutorial's sketch publishes.
    case random(min: Int, max: Int)
    /// Seconds since the agent started.
    case uptime
    case constant(String)
}

public struct PublisherSettings: Sendable, Equatable {
    public var name: String
    public var topic: String
    public var intervalMilliseconds: Int
    public var value: PublishedValue
    public var qos: QoS
    public var retain: Bool
    /// Whether Home Assistant discovery announces it as a sensor, and in which unit.
    public var announce: Bool
    public var unit: String?
    public var origin: SettingLocation
}

/// A topic the agent subscribes to and logs, as the tutorial's callback does.
public struct SubscriptionSettings: Sendable, Equatable {
    public var filter: TopicFilter
    public var qos: QoS
    public var origin: SettingLocation
}

public struct SafetySettings: Sendable, Equatable {
    /// How long the broker may be gone before outputs go to their safe state; nil never.
    public var brokerGraceMilliseconds: Int?
    /// Whether outputs go to their safe state when the agent stops.
    public var safeOnShutdown: Bool
}

public struct DiscoverySettings: Sendable, Equatable {
    public var enabled: Bool
    public var prefix: String
}

extension Profile {
    /// The agent's topics in the gpiobridge scheme, under its base topic.
    public var topics: DeviceTopics { DeviceTopics(base: device.baseTopic) }
    /// The availability topic: `online` / `offline`, retained, and the will.
    public var statusTopic: String { topics.status }
    /// Why a command was refused.
    public var errorTopic: String { topics.error }
    /// What the device is and has, retained, for `gpiobridge fleet ls`.
    public var infoTopic: String { topics.info }
}
