import MQTTCore
import NIOCore

/// The topics of one device in the gpiobridge scheme, an agent or a mirrored board: everything is
/// under its base topic, `gpiobridge/<id>` unless an agent's profile moves it.
///
/// | topic | what | retained |
/// |---|---|---|
/// | `<base>/status` | `online` or `offline` (the will) | yes |
/// | `<base>/info` | what the device is and has (``DeviceInfo``) | yes |
/// | `<base>/error` | a refused command or a failed read, as JSON | no |
/// | `<base>/<name>` | an output's or input's state (`ON`, `OFF`) or a value | yes |
/// | `<base>/<name>/set` | a command to an output | never |
public struct DeviceTopics: Sendable, Hashable {
    /// The scheme's root level.
    public static let root = "gpiobridge"

    public let base: String

    public init(base: String) {
        self.base = base
    }

    /// The topics of a device at the default base, `gpiobridge/<device>`.
    public init(device: String) {
        base = "\(Self.root)/\(device)"
    }

    public var status: String { base + "/status" }

    /// The will every gpiobridge client carries: `offline`, retained, at QoS 1 on the status topic,
    /// so the fleet and Home Assistant see a device that vanished without a word as offline.
    public var will: WillMessage {
        WillMessage(topic: status, payload: ByteBuffer(string: SchemeWord.offline), qos: .atLeastOnce, retain: true)
    }
    public var info: String { base + "/info" }
    public var error: String { base + "/error" }
    /// Every command topic of the device.
    public var commands: String { base + "/+/set" }

    /// The state (or value) of the output, input or sensor `name`.
    public func state(_ name: String) -> String { "\(base)/\(name)" }

    /// The command topic of the output `name`.
    public func command(_ name: String) -> String { Self.command(forState: state(name)) }

    /// The command topic that goes with a state topic.
    public static func command(forState stateTopic: String) -> String { stateTopic + "/set" }

    /// How many levels a base topic may have for `fleet ls` to find the device.
    public static let deepestBase = 6

    /// Filters for every device's info and status, at any base topic up to ``deepestBase`` levels.
    public static var fleetFilters: [String] {
        (1...deepestBase).flatMap { depth in
            let base = Array(repeating: "+", count: depth).joined(separator: "/")
            return [base + "/info", base + "/status"]
        }
    }

    /// `(device, rest)` when `topic` is `gpiobridge/<device>/<rest>` (rest may hold more levels).
    public static func parse(_ topic: String) -> (device: Substring, rest: Substring)? {
        guard topic.hasPrefix(root + "/") else { return nil }
        let afterRoot = topic.dropFirst(root.count + 1)
        guard let slash = afterRoot.firstIndex(of: "/") else { return nil }
        let device = afterRoot[..<slash]
        guard !device.isEmpty else { return nil }
        return (device, afterRoot[afterRoot.index(after: slash)...])
    }
}
