import Hardware
import Profile

/// Where the agent finds its hardware: the GPIO chips (kernel, expanders or simulated) and a way
/// to open I²C buses.
public struct AgentHardware: Sendable {
    public var chips: GPIOChips
    public var openBus: @Sendable (Int) throws -> any I2CBus

    public init(chips: GPIOChips, openBus: @escaping @Sendable (Int) throws -> any I2CBus) {
        self.chips = chips
        self.openBus = openBus
    }

    /// The machine's kernel chips, the profile's expanders, and /dev/i2c-N.
    public static func system(expanders: [ExpanderSettings]) throws -> AgentHardware {
        let chips = try GPIOChips.system(expanders: expanders.map(\.specification))
        return AgentHardware(chips: chips, openBus: { try LinuxI2CBus(number: $0) })
    }
}

/// Why the agent could not start: each problem located in the profile where possible.
public struct AgentStartError: Error, Sendable, CustomStringConvertible {
    public var problems: [String]

    public var description: String { problems.joined(separator: "\n") }
}
