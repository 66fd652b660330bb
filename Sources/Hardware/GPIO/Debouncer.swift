/// Software debounce for one input, for libgpiod v1 (which has no kernel debounce) and for chips
/// without it: a level counts once it has held for ``period``.
///
/// A value type driven by the caller's clock, in the kernel's nanosecond timestamps. Feed it every
/// raw edge with ``edge(_:)``; it answers when to call ``settle(now:)``, which reports the
/// debounced edge, if any. Glitches shorter than the period vanish; a pulse longer than the period
/// always gives both of its edges; and the line's final level is always reported, however the
/// bouncing ended.
public struct Debouncer: Sendable {
    public let periodNanoseconds: UInt64
    /// The level last reported (logical).
    public private(set) var stableLevel: Bool
    private var pending: (level: Bool, since: UInt64)?

    public init(periodNanoseconds: UInt64, initialLevel: Bool) {
        self.periodNanoseconds = periodNanoseconds
        self.stableLevel = initialLevel
    }

    /// Takes a raw edge and returns the time at which ``settle(now:)`` must be called (the edge
    /// plus the period), or nil when there is nothing to wait for.
    public mutating func edge(_ event: EdgeEvent) -> UInt64? {
        // The edge's direction gives the level, so merged or missed raw edges cannot invert it.
        let level = event.rising
        if level == stableLevel && pending == nil { return nil }
        pending = (level, event.timestampNanoseconds)
        return event.timestampNanoseconds + periodNanoseconds
    }

    /// At `now`, reports the debounced edge if a new level has held for the period. Returns nil
    /// when nothing changed, or when an edge came since and a later deadline applies.
    public mutating func settle(now: UInt64, offset: Int) -> EdgeEvent? {
        guard let pending, now >= pending.since + periodNanoseconds else { return nil }
        self.pending = nil
        guard pending.level != stableLevel else { return nil }
        stableLevel = pending.level
        return EdgeEvent(offset: offset, rising: pending.level, timestampNanoseconds: pending.since)
    }

    /// When ``settle(now:)`` is due next, if anything is pending.
    public var deadline: UInt64? { pending.map { $0.since + periodNanoseconds } }
}
