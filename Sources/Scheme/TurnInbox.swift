import NIOCore

/// What reaches a service on its client's event loop (messages, connection changes), done at once
/// while the loop's current turn has time left and queued behind that, so that a flood never holds
/// up the loop's reading and acknowledging. A value type on the caller's clock; the service
/// carries out what it answers.
///
/// A turn is the loop's handling of one batch of ready sockets. Its first event starts it (the
/// service then queues a task that ends it: tasks run after the batch); events handled inline
/// may take ``slice`` in all, and later ones wait in the backlog, in order. The backlog is worked
/// off in slices of the same length, with the loop reading between them. When it reaches
/// ``pauseAt`` the service stops reading from its brokers (TCP holds them back, within their own
/// queue limits) until it is down to ``resumeAt``: memory stays bounded and nothing read is lost.
public struct TurnInbox<Event> {
    /// What to do with an event that arrived.
    public enum Arrival {
        /// Handle it now; when `startsTurn`, queue a task on the loop that calls ``turnEnded()``.
        case handle(startsTurn: Bool)
        /// It waits in the backlog. When `startDrain`, schedule ``drain(startedAt:now:)`` a
        /// moment ahead; when `pauseReading`, stop reading from the brokers.
        case queued(startDrain: Bool, pauseReading: Bool)
    }

    /// What to do after a drain's slice.
    public struct AfterDrain: Equatable, Sendable {
        /// Schedule the next drain a moment ahead: the backlog is not empty.
        public var drainAgain: Bool
        /// Read from the brokers again.
        public var resumeReading: Bool
    }

    /// How long the events of one turn, or one drain, may take before the rest wait.
    public let slice: Duration
    /// The backlog's length at which reading stops.
    public let pauseAt: Int
    /// The backlog's length at which reading starts again.
    public let resumeAt: Int

    private var backlog = CircularBuffer<Event>()
    private var turnStart: ContinuousClock.Instant?
    private var draining = false
    private var readingPaused = false
    /// The longest the backlog has been.
    public private(set) var deepest = 0

    public init(slice: Duration = .milliseconds(1), pauseAt: Int = 10_000, resumeAt: Int = 1_000) {
        precondition(resumeAt < pauseAt, "the backlog must resume reading below where it pauses it")
        self.slice = slice
        self.pauseAt = pauseAt
        self.resumeAt = resumeAt
    }

    /// Events waiting.
    public var count: Int { backlog.count }

    /// Whether reading is paused.
    public var isReadingPaused: Bool { readingPaused }

    /// `event` arrived at `now`. When the answer is ``Arrival/handle(startsTurn:)``, the caller
    /// handles it (it is not kept here).
    public mutating func arrived(_ event: Event, at now: ContinuousClock.Instant) -> Arrival {
        if backlog.isEmpty && !draining {
            guard let turnStart else {
                turnStart = now
                return .handle(startsTurn: true)
            }
            if now - turnStart < slice { return .handle(startsTurn: false) }
        }
        backlog.append(event)
        deepest = max(deepest, backlog.count)
        let startDrain = !draining
        draining = true
        let pause = !readingPaused && backlog.count >= pauseAt
        if pause { readingPaused = true }
        return .queued(startDrain: startDrain, pauseReading: pause)
    }

    /// The loop's turn is over: the next event starts a new one.
    public mutating func turnEnded() {
        turnStart = nil
    }

    /// The next waiting event to handle in a drain that started at `start`, or nil when the
    /// backlog is empty or the slice is over (then call ``drainEnded()``).
    public mutating func drain(startedAt start: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Event? {
        guard now - start < slice else { return nil }
        return backlog.popFirst()
    }

    /// A drain's slice is over.
    public mutating func drainEnded() -> AfterDrain {
        draining = !backlog.isEmpty
        let resume = readingPaused && backlog.count <= resumeAt
        if resume { readingPaused = false }
        return AfterDrain(drainAgain: draining, resumeReading: resume)
    }

    /// Drops what waits (the service stopped).
    public mutating func removeAll() {
        backlog.removeAll()
        draining = false
        turnStart = nil
    }
}
