import JSON
import MQTT
import Profile
import Scheme

/// What a message from a board means, in gpiobridge's terms.
public enum BoardEvent: Sendable, Equatable {
    /// The board says it is online or offline (Tasmota's LWT, ESPHome's status).
    case availability(Bool)
    /// A mirrored output or input changed: `gpiobridge/<board>/<name>` becomes ON or OFF.
    case state(name: String, on: Bool)
    /// A mirrored sensor value: `gpiobridge/<board>/<name>` becomes the number, spelled as the
    /// board spelled it where it can be (`21.0` stays `21.0`).
    case value(name: String, String)
    /// The board has no reading for the sensor (ESPHome's `nan`, Tasmota's `null`): its value is
    /// cleared, which Home Assistant shows as unknown.
    case noReading(name: String)
    /// The board publishes an entity the profile does not name (`binary_sensor/motion`).
    case undeclared(String)
    /// The board sent something that cannot be read (malformed JSON, a word where a number belongs).
    case malformed(topic: String, reason: String)
}

/// A message to send to a board.
public struct BoardMessage: Sendable, Equatable {
    public var topic: String
    public var payload: String
    /// The QoS it is sent with: a command's own, or 1 for what the relay asks on its own.
    public var qos: QoS

    public init(topic: String, payload: String, qos: QoS = .atLeastOnce) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
    }
}

/// What Home Assistant should know of a mirrored sensor: its unit, device class and state class,
/// each as Home Assistant spells it (`°C`, `temperature`, `measurement`); nil when unknown.
public struct SensorDescription: Sendable, Equatable {
    public var unit: String?
    public var deviceClass: String?
    public var stateClass: String?

    public init(unit: String? = nil, deviceClass: String? = nil, stateClass: String? = nil) {
        self.unit = unit
        self.deviceClass = deviceClass
        self.stateClass = stateClass
    }
}

extension SensorDescription {
    /// This (the board's) with what the profile says on top: the profile's unit and class win,
    /// and a unit of the profile's that the board's class does not take drops that class.
    func overridden(by profile: SensorDescription) -> SensorDescription {
        var merged = self
        if let unit = profile.unit {
            merged.unit = unit
            if profile.deviceClass == nil, let deviceClass, SensorClassCatalog.units[deviceClass].map({ !$0.contains(unit) }) ?? true {
                merged.deviceClass = nil
            }
        }
        if let deviceClass = profile.deviceClass { merged.deviceClass = deviceClass }
        return merged
    }
}

/// How to answer a command for a mirrored name.
public enum BoardCommandResult: Sendable, Equatable {
    /// Send these to the board, in order.
    case send([BoardMessage])
    /// Answer from the relay's own record of the state (boards with no query command).
    case answerFromRecord
    case refused(String)
}

/// One firmware's topics and payloads: which topics to watch, what their messages mean, and how
/// gpiobridge commands are spelled for it. A value type with no I/O, tested on payloads.
public protocol BoardDialect: Sendable {
    /// Topic filters to subscribe to on the boards' broker.
    var subscriptions: [String] { get }
    /// The names this board mirrors as outputs (commandable), inputs and sensors.
    var outputs: [String] { get }
    var inputs: [String] { get }
    var sensors: [String] { get }
    /// Whether the board reports its outputs' states; if not, the relay takes a command's result
    /// as the state.
    var reportsState: Bool { get }
    /// What to send when the board comes online so that it reports its outputs (Tasmota's
    /// `STATE`); empty for boards that report by themselves or cannot be asked.
    var stateQuery: [BoardMessage] { get }
    /// The unit and classes of the sensor `name`, as far as they are known.
    func description(ofSensor name: String) -> SensorDescription
    /// What the board's owner calls the mirrored `name` (ESPHome's `name:`), if the board says.
    func label(of name: String) -> String?
    /// What a message on `topic` means; empty when it is not for this board.
    func events(topic: String, payload: String) -> [BoardEvent]
    /// The board's spelling of `command` for the output `name`; `current` is the state the relay
    /// last saw, for boards that cannot toggle or be asked themselves.
    func command(_ command: OutputCommand, for name: String, current: Bool?) -> BoardCommandResult
}

extension BoardDialect {
    public var inputs: [String] { [] }
    public var reportsState: Bool { true }
    public var stateQuery: [BoardMessage] { [] }
    public func description(ofSensor name: String) -> SensorDescription { SensorDescription() }
    public func label(of name: String) -> String? { nil }
}

/// A sensor's payload read as a number: a finite number keeps its spelling; `nan`, `None` and an
/// empty payload are no reading; anything else is nil.
func reading(_ payload: String, for name: String) -> BoardEvent? {
    let text = payload.trimmingWhitespace()
    if ["nan", "-nan", "none", ""].contains(text.lowercased()) { return .noReading(name: name) }
    guard let number = Double(text), number.isFinite,
        text.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) })
    else { return nil }
    return .value(name: name, text)
}

/// Reads ON/OFF the way boards send them: ON, OFF, on, off, 1, 0, true, false.
func stateWord(_ text: String) -> Bool? {
    switch text.lowercased() {
    case "on", "1", "true": true
    case "off", "0", "false": false
    default: nil
    }
}
