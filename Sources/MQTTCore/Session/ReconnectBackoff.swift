/// Delays between reconnect attempts: exponential, capped, with jitter so a fleet that lost its
/// broker at once does not return at once.
///
/// The delay for attempt n is drawn uniformly from [d/2, d] where d = min(maximum, initial × 2ⁿ)
/// ("equal jitter"): never zero, never above the cap.
public struct ReconnectBackoff: Sendable {
    public var initial: Duration
    public var maximum: Duration
    public private(set) var attempt = 0

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30)) {
        precondition(initial > .zero && maximum >= initial)
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next attempt; each call counts one more failure.
    public mutating func nextDelay<R: RandomNumberGenerator>(using generator: inout R) -> Duration {
        let ceiling = ceilingDelay(forAttempt: attempt)
        attempt += 1
        let half = ceiling / 2
        let jitter = Double.random(in: 0...1, using: &generator)
        return half + half * jitter
    }

    /// The delay before the next attempt, with the system's random numbers.
    public mutating func nextDelay() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return nextDelay(using: &generator)
    }

    /// A connection succeeded: start again from the initial delay.
    public mutating func reset() {
        attempt = 0
    }

    /// The upper bound of the delay for `attempt` (before jitter).
    public func ceilingDelay(forAttempt attempt: Int) -> Duration {
        var delay = initial
        for _ in 0..<min(attempt, 62) {
            delay = delay * 2
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }
}
