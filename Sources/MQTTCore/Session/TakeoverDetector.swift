/// Recognises a session takeover by a broker that does not announce it. Two clients with one
/// client id knock each other off: Mosquitto closes the older connection without a DISCONNECT
/// (an MQTT 5.0 broker that says so sends reason 0x8E instead). What the client sees is the broker
/// closing a working connection and then accepting the next one at once, again and again; a
/// broker restart closes it too, but then refuses connections for a while.
///
/// A value type on the caller's clock: it is told what happened and says when to warn.
public struct TakeoverDetector: Sendable {
    /// How many such closes within ``window`` make a takeover likely.
    public static let threshold = 3
    public static let window = Duration.seconds(60)
    /// A reconnect accepted within this long of the close counts as "at once".
    public static let promptReconnect = Duration.seconds(5)

    private var closedAt: ContinuousClock.Instant?
    private var recentCloses: [ContinuousClock.Instant] = []

    public init() {}

    /// The broker closed an established connection without a DISCONNECT.
    public mutating func brokerClosedConnection(at now: ContinuousClock.Instant) {
        closedAt = now
    }

    /// A connection attempt ended; `accepted` when the broker answered CONNACK with success.
    /// Returns how many closes were followed by a prompt reconnect within the window when that
    /// reaches ``threshold`` (time to warn), and nil otherwise.
    public mutating func connectionAttempt(accepted: Bool, at now: ContinuousClock.Instant) -> Int? {
        defer { closedAt = nil }
        guard accepted else {
            // The broker was away: a restart, not another client.
            recentCloses.removeAll()
            return nil
        }
        guard let closedAt, now - closedAt <= Self.promptReconnect else { return nil }
        recentCloses.append(closedAt)
        recentCloses.removeAll { now - $0 > Self.window }
        guard recentCloses.count >= Self.threshold else { return nil }
        defer { recentCloses.removeAll() }
        return recentCloses.count
    }
}
