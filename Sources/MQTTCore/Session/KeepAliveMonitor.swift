import NIOCore

/// Decides when to send PINGREQ and when a silent broker counts as gone.
///
/// A value type driven by the caller's clock: report traffic with ``packetSent(at:)`` and
/// ``packetReceived(at:)``, then ask ``evaluate(now:)`` at the deadline it returns. It probes with a
/// PINGREQ after half a keep-alive without hearing from the broker, so a half-open connection (the
/// socket open, the broker frozen) is detected one keep-alive after the broker's last packet,
/// within the 1.5 × keep-alive the specification allows the server [MQTT-3.1.2-24]. It also sends
/// PINGREQ whenever we have sent nothing for three quarters of the interval [MQTT-3.1.2-20].
public struct KeepAliveMonitor: Sendable {
    /// What to do now.
    public enum Action: Sendable, Equatable {
        case sendPing
        /// Nothing arrived for `silence` despite a PINGREQ: close the connection.
        case timedOut(silence: TimeAmount)
    }

    public let interval: TimeAmount
    private var lastSent: NIODeadline
    private var lastReceived: NIODeadline
    private var pingSentAt: NIODeadline?

    /// - Parameter interval: the keep alive in force (the broker's Server Keep Alive if it sent one).
    public init(interval: TimeAmount, now: NIODeadline) {
        precondition(interval > .zero, "keep alive 0 disables the monitor; do not create one")
        self.interval = interval
        self.lastSent = now
        self.lastReceived = now
    }

    public mutating func packetSent(at now: NIODeadline) {
        lastSent = now
    }

    /// Any packet from the broker proves it alive, not only PINGRESP.
    public mutating func packetReceived(at now: NIODeadline) {
        lastReceived = now
        pingSentAt = nil
    }

    /// The action due at `now`, if any, and when to evaluate next.
    public mutating func evaluate(now: NIODeadline) -> (action: Action?, next: NIODeadline) {
        let probeAfter = TimeAmount.nanoseconds(interval.nanoseconds / 2)
        let idleSendLimit = TimeAmount.nanoseconds(interval.nanoseconds / 4 * 3)
        if let pingSentAt {
            // Give the broker at least half an interval to answer, even if we probed late.
            let deadline = max(lastReceived + interval, pingSentAt + probeAfter)
            if now >= deadline { return (.timedOut(silence: now - lastReceived), now + interval) }
            return (nil, deadline)
        }
        if now - lastReceived >= probeAfter || now - lastSent >= idleSendLimit {
            pingSentAt = now
            lastSent = now
            return (.sendPing, max(lastReceived + interval, now + probeAfter))
        }
        return (nil, min(lastReceived + probeAfter, lastSent + idleSendLimit))
    }
}
