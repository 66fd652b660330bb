import JSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a device tells the fleet about itself, retained at `<base topic>/info`: what runs it,
/// what it has, and when it was last seen. Agents publish their own; the relay publishes one per
/// mirrored board. `gpiobridge fleet ls` lists the fleet from these and the status topics.
public struct DeviceInfo: Sendable, Equatable {
    /// `agent`, `relay`, or the firmware of a mirrored board: `tasmota`, `esphome`, `pubsubclient`.
    public var kind: String
    /// The device's id, when its base topic does not say it (an agent whose profile moves it).
    public var id: String?
    /// The device's human name (an agent's `device.name`, a board's mirrored name).
    public var name: String
    /// The names under the device's base topic: outputs take `/set` commands; inputs and sensors report.
    public var outputs: [String]
    public var inputs: [String]
    public var sensors: [String]
    /// The relay that mirrors this board; nil for devices that speak for themselves.
    public var via: String?
    /// Unix time, in seconds, of the last sign of life when this was published.
    public var seen: Int

    /// An info to publish; `seen` is in Unix seconds.
    public init(
        kind: String, id: String? = nil, name: String, outputs: [String] = [], inputs: [String] = [], sensors: [String] = [],
        via: String? = nil, seen: Int
    ) {
        self.kind = kind
        self.id = id
        self.name = name
        self.outputs = outputs
        self.inputs = inputs
        self.sensors = sensors
        self.via = via
        self.seen = seen
    }

    /// How often a connected device refreshes its info, so that `seen` of a device that vanished
    /// without a word is at most this old.
    public static let refreshInterval = Duration.seconds(300)

    /// The retained payload.
    public var json: JSONValue {
        var members: [JSONMember] = [JSONMember(key: "kind", value: .string(kind))]
        if let id { members.append(JSONMember(key: "id", value: .string(id))) }
        members += [
            JSONMember(key: "name", value: .string(name)),
            JSONMember(key: "outputs", value: .array(outputs.map { .string($0) })),
            JSONMember(key: "inputs", value: .array(inputs.map { .string($0) })),
            JSONMember(key: "sensors", value: .array(sensors.map { .string($0) })),
        ]
        if let via { members.append(JSONMember(key: "via", value: .string(via))) }
        members.append(JSONMember(key: "seen", value: .number(Double(seen))))
        members.append(JSONMember(key: "sw", value: .string(gpiobridgeVersion)))
        return .object(members)
    }

    /// Reads a published info; nil when `json` is not one.
    public init?(json: JSONValue) {
        guard case .string(let kind)? = json["kind"], case .string(let name)? = json["name"] else { return nil }
        func names(_ key: String) -> [String] {
            guard case .array(let items)? = json[key] else { return [] }
            return items.compactMap { if case .string(let text) = $0 { text } else { nil } }
        }
        var via: String?
        if case .string(let text)? = json["via"] { via = text }
        var id: String?
        if case .string(let text)? = json["id"] { id = text }
        var seen = 0
        if case .number(let number)? = json["seen"], number.isFinite, abs(number) < 1e15 { seen = Int(number) }
        self.init(kind: kind, id: id, name: name, outputs: names("outputs"), inputs: names("inputs"), sensors: names("sensors"), via: via, seen: seen)
    }
}

/// The wall clock, in Unix seconds: for `seen`, which readers compare with their own clocks.
public func unixTimeNow() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int(now.tv_sec)
}
