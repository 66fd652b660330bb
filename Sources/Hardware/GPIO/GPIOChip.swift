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
    /// Hands the edges of the requested inputs (requested with an edge) to `sink`, from a thread
    /// that waits for them (never an event loop or a cooperative thread), in order, until the
    /// lines are released. A request is watched once.
    func watchEdges(_ sink: EdgeSink) throws
    /// Gives the lines back to the kernel. Later calls do nothing.
    func release()
}

/// Where a line request hands its edges. Both closures are called on the watching thread; they
/// must return quickly (move the edge on, do not work on it there).
public struct EdgeSink: Sendable {
    public var edge: @Sendable (EdgeEvent) -> Void
    /// The request was released: no edge follows.
    public var ended: @Sendable () -> Void

    public init(edge: @escaping @Sendable (EdgeEvent) -> Void, ended: @escaping @Sendable () -> Void = {}) {
        self.edge = edge
        self.ended = ended
    }
}

extension LineRequest {
    /// The edges as a stream, which ends when the lines are released. A reader that falls behind
    /// loses the oldest beyond 4096.
    public func edgeEvents() throws -> AsyncStream<EdgeEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: EdgeEvent.self, bufferingPolicy: .bufferingNewest(4096))
        try watchEdges(EdgeSink(edge: { continuation.yield($0) }, ended: { continuation.finish() }))
        return stream
    }
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
