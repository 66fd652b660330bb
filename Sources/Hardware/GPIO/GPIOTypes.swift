/// Whether a line is read or driven.
public enum LineDirection: String, Sendable, Hashable, CaseIterable {
    case input
    case output
}

/// How an output drives its line.
public enum LineDrive: String, Sendable, Hashable, CaseIterable {
    case pushPull = "push-pull"
    case openDrain = "open-drain"
    case openSource = "open-source"
}

/// The pull resistor of an input.
public enum LineBias: String, Sendable, Hashable, CaseIterable {
    /// Leave it as the hardware or firmware set it.
    case asIs = "as-is"
    case disabled
    case pullUp = "pull-up"
    case pullDown = "pull-down"
}

/// Which input transitions raise edge events.
public enum LineEdge: String, Sendable, Hashable, CaseIterable {
    case none
    case rising
    case falling
    case both
}

/// The configuration of requested lines.
public struct LineSettings: Sendable, Hashable {
    public var direction: LineDirection
    /// Values are logical: with active-low, 1 drives the line low.
    public var activeLow: Bool
    public var drive: LineDrive
    public var bias: LineBias
    public var edge: LineEdge
    /// Debounce period in microseconds; 0 disables it.
    public var debounceMicroseconds: UInt32

    public init(
        direction: LineDirection, activeLow: Bool = false, drive: LineDrive = .pushPull, bias: LineBias = .asIs,
        edge: LineEdge = .none, debounceMicroseconds: UInt32 = 0
    ) {
        self.direction = direction
        self.activeLow = activeLow
        self.drive = drive
        self.bias = bias
        self.edge = edge
        self.debounceMicroseconds = debounceMicroseconds
    }

    public static func output(activeLow: Bool = false, drive: LineDrive = .pushPull) -> LineSettings {
        LineSettings(direction: .output, activeLow: activeLow, drive: drive)
    }

    public static func input(
        bias: LineBias = .asIs, edge: LineEdge = .none, activeLow: Bool = false,
        debounceMicroseconds: UInt32 = 0
    ) -> LineSettings {
        LineSettings(direction: .input, activeLow: activeLow, bias: bias, edge: edge, debounceMicroseconds: debounceMicroseconds)
    }
}

/// A GPIO chip as the kernel describes it.
public struct GPIOChipInfo: Sendable, Hashable {
    /// The device name, such as `gpiochip0`.
    public var name: String
    /// The driver's label, such as `pinctrl-bcm2711` or `gpio-sim`.
    public var label: String
    public var lineCount: Int
    /// The character device, such as `/dev/gpiochip0`.
    public var path: String

    public init(name: String, label: String, lineCount: Int, path: String) {
        self.name = name
        self.label = label
        self.lineCount = lineCount
        self.path = path
    }
}

/// One line as the kernel describes it.
public struct GPIOLineInfo: Sendable, Hashable {
    public var offset: Int
    /// The kernel's name for the line (`GPIO17` on a Raspberry Pi), or empty.
    public var name: String
    /// Who holds the line, or empty.
    public var consumer: String
    public var isUsed: Bool
    public var direction: LineDirection
    public var activeLow: Bool
    public var bias: LineBias
    public var drive: LineDrive

    public init(
        offset: Int, name: String, consumer: String, isUsed: Bool, direction: LineDirection, activeLow: Bool,
        bias: LineBias, drive: LineDrive
    ) {
        self.offset = offset
        self.name = name
        self.consumer = consumer
        self.isUsed = isUsed
        self.direction = direction
        self.activeLow = activeLow
        self.bias = bias
        self.drive = drive
    }
}

/// A transition seen on an input line.
public struct EdgeEvent: Sendable, Hashable {
    public var offset: Int
    public var rising: Bool
    /// The kernel's CLOCK_MONOTONIC timestamp in nanoseconds.
    public var timestampNanoseconds: UInt64

    public init(offset: Int, rising: Bool, timestampNanoseconds: UInt64) {
        self.offset = offset
        self.rising = rising
        self.timestampNanoseconds = timestampNanoseconds
    }
}

/// The consumer name gpiobridge gives its requests, so `gpioinfo` shows who holds a line.
public let gpiobridgeConsumer = "gpiobridge"
