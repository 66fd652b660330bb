import MQTTCore
import Scheme

/// One board as the fleet sees it, as a value type driven by the caller's clock: its availability
/// (the board's own LWT or status, or silence for boards without one), the states and values it
/// reported, and the commands waiting for it. Its mutating methods return what to publish and
/// send; the relay service carries that out.
public struct BoardMirror: Sendable {
    /// Something the relay must do.
    public enum Action: Sendable, Equatable {
        /// `gpiobridge/<board>/status`: `online` or `offline`, retained.
        case publishAvailability(Bool)
        case publishState(name: String, on: Bool)
        /// A sensor's value, or nil when the board has no reading.
        case publishValue(name: String, String?)
        case send(BoardMessage)
        /// A command that cannot be carried out, for the board's error topic.
        case refuse(name: String, reason: String)
    }

    /// How long commands may wait for an unavailable board, and how many.
    public struct Buffer: Sendable, Equatable {
        public var capacity: Int
        public var maximumAge: Duration

        public init(capacity: Int = 100, maximumAge: Duration = .seconds(300)) {
            self.capacity = capacity
            self.maximumAge = maximumAge
        }
    }

    public private(set) var dialect: any BoardDialect
    /// For boards with no will: silence this long means offline.
    public let silenceLimit: Duration?
    public let buffer: Buffer
    /// The board's own word, or what its silence says; nil until anything is known.
    public private(set) var boardOnline: Bool?
    /// Whether the broker the board lives on is reachable.
    public private(set) var boardBrokerUp = true
    public private(set) var lastSeen: ContinuousClock.Instant?
    public private(set) var states: [String: Bool] = [:]
    public private(set) var values: [String: String] = [:]
    private var waiting: [(name: String, command: OutputCommand, qos: QoS, since: ContinuousClock.Instant)] = []
    /// Entities the board publishes and the profile does not name, each reported once.
    private var undeclared: Set<String> = []
    /// Outputs commanded or asked for: their next report is published even if unchanged.
    private var queried: Set<String> = []
    private var published: Bool?

    /// When the relay started listening: a board without a will that says nothing for the
    /// silence limit after this is offline.
    private let watchingSince: ContinuousClock.Instant?
    /// Since when a board with a will has been unknown (the relay started, or its broker came
    /// back): its retained LWT or status settles it; silence past the settle time is offline.
    private var unknownSince: ContinuousClock.Instant?
    /// Its broker, shared with the fleet, was lost: nothing is reported until it returns.
    private var lostQuietly = false
    /// After such a return, until when going offline waits for the board's last word.
    private var settlingUntil: ContinuousClock.Instant?
    private let offlineHold: Duration?
    /// When the board went offline while the fleet was told online: reported after `offlineHold`.
    private var offlineSince: ContinuousClock.Instant?

    /// How long a board with a will may stay unknown before it counts as offline: time for its
    /// retained LWT or status to arrive after the relay subscribes, so a running board does not
    /// flicker offline when the relay starts.
    public static let settleTime = Duration.seconds(2)

    /// What the fleet was last told: nil when nothing yet.
    public var announcedAvailability: Bool? { published }

    /// `watchingSince`, when given, starts the silence limit of a board not yet heard from, and
    /// the settle time of one with a will.
    /// `offlineHold`, for a board on the fleet's own broker: how long its going offline waits
    /// before the fleet is told, since a broker shutting down hands out every client's will first.
    public init(
        dialect: any BoardDialect, silenceLimit: Duration? = nil, buffer: Buffer = Buffer(),
        watchingSince: ContinuousClock.Instant? = nil, offlineHold: Duration? = nil
    ) {
        self.dialect = dialect
        self.silenceLimit = silenceLimit
        self.buffer = buffer
        self.watchingSince = watchingSince
        self.offlineHold = offlineHold
        unknownSince = watchingSince
    }

    /// Whether commands can reach the board now, and what the fleet is told.
    public var isAvailable: Bool { boardBrokerUp && boardOnline == true }

    /// The number of commands waiting for the board.
    public var waitingCount: Int { waiting.count }

    /// The board's firmware announced more or other components: the mirror keeps what it knows.
    public mutating func redefine(_ dialect: any BoardDialect) {
        self.dialect = dialect
    }

    /// A message from the board's broker on one of the dialect's topics.
    public mutating func received(topic: String, payload: String, at now: ContinuousClock.Instant) -> [Action] {
        let events = dialect.events(topic: topic, payload: payload)
        guard !events.isEmpty else { return [] }
        let wasOnline = boardOnline == true
        lastSeen = now
        var actions: [Action] = []
        for event in events {
            switch event {
            case .availability(let online):
                boardOnline = online
            case .state(let name, let on):
                // Tasmota reports a change twice (RESULT and POWERn): the fleet hears it once,
                // and a command is answered even when it changed nothing.
                let asked = queried.remove(name) != nil
                guard states[name] != on || asked else { continue }
                states[name] = on
                actions.append(.publishState(name: name, on: on))
            case .value(let name, let value):
                values[name] = value
                actions.append(.publishValue(name: name, value))
            case .noReading(let name):
                guard values[name] != nil else { continue }
                values[name] = nil
                actions.append(.publishValue(name: name, nil))
            case .malformed(let topic, let reason):
                actions.append(.refuse(name: "board", reason: "\(topic): \(reason)"))
            case .undeclared(let entity):
                guard undeclared.count < 32, undeclared.insert(entity).inserted else { continue }
                actions.append(
                    .refuse(
                        name: "board",
                        reason: "the board publishes \(entity), which the profile does not name; "
                            + "ESPHome's object id is the entity's name: in lower case, with _ for spaces and other characters (name: Living Room is living_room), not its id:"
                    ))
            }
        }
        // A board without a will proves it is alive by talking.
        if silenceLimit != nil && boardOnline != true { boardOnline = true }
        return availabilityChange(settled: !wasOnline && boardOnline == true, at: now) + actions + flush(at: now)
    }

    /// A command from the fleet for the output `name`, delivered with `qos`: what it sends to the
    /// board goes with the same QoS. For an unavailable board it waits only with QoS 1 or 2; a
    /// QoS 0 command is refused at once, as it promises no delivery.
    public mutating func command(_ command: OutputCommand, for name: String, qos: QoS = .atLeastOnce, at now: ContinuousClock.Instant) -> [Action] {
        guard dialect.outputs.contains(name) else {
            return [.refuse(name: name, reason: "\(name) is not an output of this board")]
        }
        if case .query = command, states[name] != nil, !isAvailable {
            return [.publishState(name: name, on: states[name]!)]
        }
        guard isAvailable else {
            guard qos > .atMostOnce else {
                return [.refuse(name: name, reason: "the board is offline; send the command with QoS 1 to have it wait for the board")]
            }
            guard waiting.count < buffer.capacity else {
                return [.refuse(name: name, reason: "the board is offline and \(buffer.capacity) commands already wait for it")]
            }
            waiting.append((name, command, qos, now))
            return []
        }
        return carryOut(command, for: name, qos: qos)
    }

    /// Time passing: a silent board goes offline; commands that waited too long are refused.
    public mutating func tick(at now: ContinuousClock.Instant) -> [Action] {
        if let silenceLimit, boardOnline != false, let since = lastSeen ?? watchingSince, now - since >= silenceLimit {
            boardOnline = false
        }
        if let until = settlingUntil, now >= until { settlingUntil = nil }
        var actions = availabilityChange(at: now)
        if awaitsSettling, let since = unknownSince, now - since >= Self.settleTime {
            published = false
            actions.append(.publishAvailability(false))
        }
        let maximumAge = buffer.maximumAge
        let expired = waiting.filter { now - $0.since >= maximumAge }
        waiting.removeAll { now - $0.since >= maximumAge }
        actions += expired.map {
            .refuse(
                name: $0.name, reason: "the board stayed unavailable for \(maximumAge.components.seconds) s; the command was dropped, not sent late")
        }
        return actions
    }

    /// The broker the board lives on was lost or came back.
    /// A board with a will is unknown again once its broker was lost: it may have died meanwhile,
    /// and only its retained LWT or status, sent again on return, tells. When the fleet cannot
    /// hear (`fleetHears` false: the boards share its broker), the loss is not reported: on return
    /// the board's LWT settles it, so the fleet sees no offline-then-online flap.
    public mutating func boardBroker(up: Bool, fleetHears: Bool = true, at now: ContinuousClock.Instant) -> [Action] {
        boardBrokerUp = up
        if !up && silenceLimit == nil { boardOnline = nil }
        if up && silenceLimit == nil && boardOnline == nil { unknownSince = now }
        if !up && !fleetHears {
            // An offline still held was the broker going down, not the board: the return decides.
            lostQuietly = true
            offlineSince = nil
            return []
        }
        // Back from a restart nobody heard: the broker may hand over the board's will, sent when it
        // went down, before the board's own word again; the settle time decides.
        if up && lostQuietly { settlingUntil = now + Self.settleTime }
        return availabilityChange(at: now) + flush(at: now)
    }

    /// A board with a will that is not yet known since the relay started or its broker returned,
    /// and that the fleet has not been told is offline.
    private var awaitsSettling: Bool { silenceLimit == nil && boardOnline == nil && boardBrokerUp && published != false }

    /// When ``tick(at:)`` is next needed: the end of the silence limit or of the oldest wait.
    public var nextDeadline: ContinuousClock.Instant? {
        var deadlines: [ContinuousClock.Instant] = []
        if let silenceLimit, boardOnline != false, let since = lastSeen ?? watchingSince { deadlines.append(since + silenceLimit) }
        if awaitsSettling, let since = unknownSince { deadlines.append(since + Self.settleTime) }
        if let settlingUntil { deadlines.append(settlingUntil) }
        if let offlineSince, let offlineHold { deadlines.append(offlineSince + offlineHold) }
        if let oldest = waiting.first { deadlines.append(oldest.since + buffer.maximumAge) }
        return deadlines.min()
    }

    /// `settled` says the board came online with this message: it is asked for its outputs even
    /// if the fleet was told nothing new (its broker came back and it is still online).
    private mutating func availabilityChange(settled: Bool = false, at now: ContinuousClock.Instant) -> [Action] {
        let available = isAvailable
        if lostQuietly && !boardBrokerUp { return [] }
        if !available, let until = settlingUntil, now < until { return [] }
        if available { offlineSince = nil }
        if !available, published == true, boardBrokerUp, silenceLimit == nil, let offlineHold {
            let since = offlineSince ?? now
            offlineSince = since
            if now - since < offlineHold { return [] }
        }
        offlineSince = nil
        lostQuietly = false
        guard published != available, boardOnline != nil || !boardBrokerUp else {
            return settled && available ? dialect.stateQuery.map { .send($0) } : []
        }
        published = available
        // A board back online is asked for its outputs, so the fleet does not wait for a change.
        return [.publishAvailability(available)] + (available ? dialect.stateQuery.map { .send($0) } : [])
    }

    private mutating func flush(at now: ContinuousClock.Instant) -> [Action] {
        guard isAvailable, !waiting.isEmpty else { return [] }
        let ready = waiting
        waiting = []
        var actions: [Action] = []
        for command in ready { actions += carryOut(command.command, for: command.name, qos: command.qos) }
        return actions
    }

    private mutating func carryOut(_ command: OutputCommand, for name: String, qos: QoS) -> [Action] {
        switch dialect.command(command, for: name, current: states[name]) {
        case .send(let messages):
            // The board's next report answers the command, even if nothing changed.
            queried.insert(name)
            var actions = messages.map { message in
                var message = message
                message.qos = qos
                return Action.send(message)
            }
            // A board that never reports its state is taken at its word: it is what was sent.
            if !dialect.reportsState {
                let on: Bool? =
                    switch command {
                    case .set(let on, _): on
                    case .toggle: states[name].map { !$0 }
                    case .query: nil
                    }
                if let on {
                    states[name] = on
                    actions.append(.publishState(name: name, on: on))
                }
            }
            return actions
        case .answerFromRecord:
            guard let on = states[name] else { return [.refuse(name: name, reason: "the board has not reported \(name) yet")] }
            return [.publishState(name: name, on: on)]
        case .refused(let reason): return [.refuse(name: name, reason: reason)]
        }
    }
}
