import NIOCore

/// One timer on an event loop that follows a core's next deadline: after every change to the
/// core, ``follow(_:on:fire:)`` moves it (or leaves it, if the deadline is the same). A core with
/// no deadline has no timer, so an idle service never wakes. Use it on that loop only.
public struct DeadlineTimer {
    private var scheduled: (at: ContinuousClock.Instant, task: Scheduled<Void>)?

    public init() {}

    /// Fires `fire` on `loop` at `next` (nil: never). A timer already set for `next` stays.
    public mutating func follow(_ next: ContinuousClock.Instant?, on loop: any EventLoop, fire: @escaping @Sendable () -> Void) {
        guard scheduled?.at != next else { return }
        scheduled?.task.cancel()
        scheduled = nil
        guard let next else { return }
        scheduled = (next, loop.scheduleTask(in: TimeAmount(max(.zero, next - .now)), fire))
    }

    /// The timer fired: the next ``follow(_:on:fire:)`` sets a new one.
    public mutating func fired() {
        scheduled = nil
    }

    public mutating func cancel() {
        scheduled?.task.cancel()
        scheduled = nil
    }
}
