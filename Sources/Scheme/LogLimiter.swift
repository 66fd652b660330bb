/// Bounds how many lines of one kind reach the log, on the caller's clock: a flood of identical
/// warnings (20,000 refused commands, say) writes a few lines and then one summary with a count,
/// instead of a line each. A kind is a key chosen by the caller, such as the warning and its topic.
///
/// Each key may write `burst` lines per `window`; further lines in the window are counted, and
/// ``expire(at:)`` returns the count when the window ends. At most `maximumKeys` keys are tracked:
/// lines of further keys share one, so a flood of different keys cannot grow the table either.
public struct LogLimiter: Sendable {
    /// Lines of one key held back in a window that has ended.
    public struct Summary: Sendable, Equatable {
        /// The key, or ``LogLimiter/otherKey`` for keys beyond `maximumKeys`.
        public var key: String
        public var suppressed: Int

        public init(key: String, suppressed: Int) {
            self.key = key
            self.suppressed = suppressed
        }
    }

    /// The key lines share once `maximumKeys` keys are tracked.
    public static let otherKey = "(other)"

    public let burst: Int
    public let window: Duration
    public let maximumKeys: Int
    private var windows: [String: Window] = [:]

    private struct Window: Sendable {
        var ends: ContinuousClock.Instant
        var written: Int
        var suppressed: Int
    }

    public init(burst: Int = 5, window: Duration = .seconds(10), maximumKeys: Int = 64) {
        precondition(burst > 0 && maximumKeys > 0)
        self.burst = burst
        self.window = window
        self.maximumKeys = maximumKeys
    }

    /// Whether a line of `key` may be written now; when not, it is counted for the summary.
    /// `burst` overrides the limiter's for this kind of line.
    public mutating func admit(_ key: String, burst: Int? = nil, at now: ContinuousClock.Instant) -> Bool {
        let burst = burst ?? self.burst
        let key = windows[key] != nil || windows.count < maximumKeys ? key : Self.otherKey
        guard var current = windows[key], now < current.ends else {
            windows[key] = Window(ends: now + window, written: 1, suppressed: 0)
            return true
        }
        defer { windows[key] = current }
        guard current.written < burst else {
            current.suppressed += 1
            return false
        }
        current.written += 1
        return true
    }

    /// Ends the windows that are over and returns the keys that had lines held back in them.
    public mutating func expire(at now: ContinuousClock.Instant) -> [Summary] {
        var summaries: [Summary] = []
        for (key, current) in windows where current.ends <= now {
            windows[key] = nil
            if current.suppressed > 0 { summaries.append(Summary(key: key, suppressed: current.suppressed)) }
        }
        return summaries.sorted { $0.key < $1.key }
    }

    /// When ``expire(at:)`` has a summary to give: the end of the earliest window that held lines back.
    public var nextDeadline: ContinuousClock.Instant? {
        windows.values.filter { $0.suppressed > 0 }.map(\.ends).min()
    }
}
