import Synchronization

/// A GPIO chip whose lines can be described and requested: a libgpiod chip, an I²C expander or
/// the simulated chip.
public protocol GPIOChip: AnyObject, Sendable {
    var info: GPIOChipInfo { get }
    func lineInfo(offset: Int) throws -> GPIOLineInfo
    /// Requests `offsets` with one configuration under `consumer`. Outputs start at
    /// `initialValues` (logical values, one per offset; all 0 if nil).
    func requestLines(_ offsets: [Int], settings: LineSettings, initialValues: [Bool]?, consumer: String) throws
        -> any LineRequest
}

/// Lines held by us. Released exactly once: by ``release()`` or when the owner lets go of it.
public protocol LineRequest: AnyObject, Sendable {
    var chip: GPIOChipInfo { get }
    var offsets: [Int] { get }
    var settings: LineSettings { get }
    /// Sets the logical values of all requested outputs, in `offsets` order.
    func setValues(_ values: [Bool]) throws
    /// Reads the logical values of all requested lines, in `offsets` order.
    func values() throws -> [Bool]
    /// Edge events of the requested inputs (requested with an edge), delivered from a thread of
    /// their own: waiting for them blocks no event loop and no cooperative thread.
    func edgeEvents() throws -> AsyncStream<EdgeEvent>
    /// Gives the lines back to the kernel. Later calls do nothing.
    func release()
}

extension GPIOChip {
    /// Describes every line of the chip.
    public func allLines() throws -> [GPIOLineInfo] {
        try (0..<info.lineCount).map { try lineInfo(offset: $0) }
    }
}

/// Whether a request's lines were given back, so that release runs once and later use is an error.
struct ReleaseState: ~Copyable {
    private let released = Mutex(false)

    /// True for the first caller only.
    func claim() -> Bool {
        released.withLock { released in
            defer { released = true }
            return !released
        }
    }

    func ensureHeld(_ offsets: [Int], of chip: String) throws {
        if released.withLock({ $0 }) {
            throw GPIOError.system(operation: "using lines \(offsets) of \(chip)", errno: 9, message: "the lines were released")
        }
    }
}
