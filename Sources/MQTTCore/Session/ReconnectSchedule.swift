/// When to try the broker again, by what went wrong. A value type with no clock: the caller says
/// what happened and sleeps for the delay it is given.
///
/// - A connection that worked and was lost is retried at once: a broker restart is routine, and
///   the ESP8266 next to us is back within its own 5 s retry.
/// - Attempts that do not reach CONNACK (DNS, TCP, TLS, a timeout: the broker is away) back off
///   from ``MQTTReconnectPolicy``'s bounds, short by default, with jitter.
/// - A broker that refuses us in CONNACK (bad password, not authorized, banned) is backed off on
///   its own, slower track, and so is one that accepts and then drops us within
///   ``stableConnection`` (an ACL, a session takeover): nothing hammers a broker that says no. A
///   broker that restarts every few seconds is not mistaken for one: its connections last.
///
/// Reaching CONNACK starts the first two tracks over; only a connection that lasted starts the
/// dropped track over.
public struct ReconnectSchedule: Sendable {
    /// A connection that lasted this long worked: losing it is retried at once.
    public static let stableConnection = Duration.seconds(1)
    /// The bounds of the refused and dropped tracks, at least.
    public static let refusedBounds = (initial: Duration.seconds(1), maximum: Duration.seconds(60))

    private var unreachable: ReconnectBackoff
    private var refused: ReconnectBackoff
    private var dropped: ReconnectBackoff

    /// `initial` and `maximum` bound the delays while the broker cannot be reached; the refused
    /// and dropped tracks use ``refusedBounds`` or these, whichever are longer.
    public init(initial: Duration, maximum: Duration) {
        unreachable = ReconnectBackoff(initial: initial, maximum: maximum)
        let slow = ReconnectBackoff(
            initial: max(initial, Self.refusedBounds.initial),
            maximum: max(maximum, Self.refusedBounds.maximum))
        refused = slow
        dropped = slow
    }

    /// The broker accepted the connection (CONNACK).
    public mutating func connected() {
        unreachable.reset()
        refused.reset()
    }

    /// The delay before the next attempt after an established connection that lasted `lasted`
    /// was lost.
    public mutating func delayAfterLosing<R: RandomNumberGenerator>(
        connectionThatLasted lasted: Duration,
        using generator: inout R
    ) -> Duration {
        guard lasted < Self.stableConnection else {
            dropped.reset()
            return .zero
        }
        return dropped.nextDelay(using: &generator)
    }

    /// The delay before the next attempt after one that failed before the connection was
    /// established; `refused` when the broker answered CONNACK with an error.
    public mutating func delayAfterFailing<R: RandomNumberGenerator>(refused wasRefused: Bool, using generator: inout R) -> Duration {
        wasRefused ? refused.nextDelay(using: &generator) : unreachable.nextDelay(using: &generator)
    }
}
