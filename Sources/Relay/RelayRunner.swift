import Logging
import MQTT
import NIOCore
import Profile
import Scheme
import ServiceSupport

/// Carries out a ``RelayCore``'s actions on the clients' event loop and feeds it what happens:
/// messages and connection changes of both clients, as they are decoded (through a
/// ``TurnInbox``), and its deadlines (one timer on the loop). Only the loop touches it.
final class RelayRunner {
    /// What the clients deliver.
    enum Event {
        case fleetMessage(MQTTMessage)
        case boardsMessage(MQTTMessage)
        case fleetConnection(MQTTConnectionState)
        case boardsConnection(MQTTConnectionState)
    }

    private let profile: RelayProfile
    private let fleet: MQTTClient
    /// nil when the boards live on the fleet's broker.
    private let boards: MQTTClient?
    private let logger: Logger
    private let loop: any EventLoop
    private let states: StateOutbox
    private var core: RelayCore
    private var timer = DeadlineTimer()
    private var inbox: TurnInbox<Event>
    /// How far ahead the next drain of the inbox is scheduled: the loop reads and acknowledges
    /// in between.
    static let drainPause = TimeAmount.microseconds(50)
    private var stopped: EventLoopPromise<Void>?
    private var stopping = false

    /// How long the stop waits for the fleet broker to acknowledge `offline`.
    static let offlineWait = Duration.seconds(2)

    init(
        profile: RelayProfile, fleet: MQTTClient, boards: MQTTClient?, loop: any EventLoop, logger: Logger,
        backlog: (pauseAt: Int, resumeAt: Int)
    ) {
        self.loop = loop
        inbox = TurnInbox(pauseAt: backlog.pauseAt, resumeAt: backlog.resumeAt)
        self.profile = profile
        self.fleet = fleet
        self.boards = boards
        self.logger = logger
        states = StateOutbox(client: fleet)
        core = RelayCore(profile: profile, at: .now, unixNow: unixTimeNow(), boardsShareFleetBroker: boards == nil)
    }

    private var bound: NIOLoopBound<RelayRunner> { NIOLoopBound(self, eventLoop: loop) }

    /// Subscribes; the future completes when the relay has stopped.
    func start() -> EventLoopFuture<Void> {
        let stopped = loop.makePromise(of: Void.self)
        self.stopped = stopped
        update { $0.start() }
        logger.info("relay started", metadata: ["id": "\(profile.id)", "boards": "\(core.boardNames.joined(separator: ", "))"])
        return stopped.futureResult
    }

    /// Every board and the relay go offline to the fleet; nothing is mirrored after.
    func stop() {
        guard let stopped, !stopping else { return }
        update { $0.shutdown(at: .now) }
        stopping = true
        inbox.removeAll()
        timer.cancel()
        logger.info("stopping: every board and the relay are offline to the fleet")
        states.flush(within: Self.offlineWait).whenSuccess { [logger] acknowledged in
            if !acknowledged { logger.warning("the fleet broker did not acknowledge offline within 2 s; the relay's will reports it instead") }
            stopped.succeed()
        }
    }

    // MARK: What happens

    /// A client delivered `event`, on the loop: handled now while the loop's turn has time left,
    /// else queued in order.
    func receive(_ event: Event) {
        guard !stopping else { return }
        switch inbox.arrived(event, at: .now) {
        case .handle(let startsTurn):
            if startsTurn {
                let bound = self.bound
                loop.execute { bound.value.inbox.turnEnded() }
            }
            handle(event)
        case .queued(let startDrain, let pauseReading):
            if pauseReading {
                logger.warning("\(inbox.count) messages wait to be mirrored: reading from the brokers pauses until \(inbox.resumeAt) are left")
                fleet.pauseReading()
                boards?.pauseReading()
            }
            if startDrain { scheduleDrain() }
        }
    }

    private func scheduleDrain() {
        let bound = self.bound
        loop.scheduleTask(in: Self.drainPause) { bound.value.drain() }
    }

    private func drain() {
        let start = ContinuousClock.now
        while !stopping, let event = inbox.drain(startedAt: start, now: .now) { handle(event) }
        let after = inbox.drainEnded()
        if after.resumeReading {
            logger.notice("the mirroring caught up: reading from the brokers again (at most \(inbox.deepest) messages waited)")
            fleet.resumeReading()
            boards?.resumeReading()
        }
        if after.drainAgain, !stopping { scheduleDrain() }
    }

    private func handle(_ event: Event) {
        switch event {
        case .fleetMessage(let message): fleetMessage(message)
        case .boardsMessage(let message): boardsMessage(message)
        case .fleetConnection(let state): fleetConnection(state)
        case .boardsConnection(let state): boardsConnection(state)
        }
    }

    private func fleetMessage(_ message: MQTTMessage) {
        if let size = message.skippedPacketSize {
            update { $0.skippedFleetMessage(topic: message.topic, size: size, limit: fleet.configuration.maximumPacketSize, at: .now) }
            return
        }
        let payload = message.payloadString
        let now = ContinuousClock.now
        let shared = boards == nil
        update { core in
            // One broker for both: a message may be a board's.
            let asBoards = shared ? core.boardMessage(topic: message.topic, payload: payload, qos: message.qos, at: now) : []
            let asFleet = core.fleetMessage(topic: message.topic, payload: payload, qos: message.qos, retained: message.retain, at: now)
            return asBoards.isEmpty ? asFleet : asBoards + asFleet
        }
    }

    private func boardsMessage(_ message: MQTTMessage) {
        // A skipped one was logged by the client; nothing of it can be mirrored.
        guard message.skippedPacketSize == nil else { return }
        update { $0.boardMessage(topic: message.topic, payload: message.payloadString, qos: message.qos, at: .now) }
    }

    private func fleetConnection(_ state: MQTTConnectionState) {
        if case .waitingToReconnect = state {
            if boards != nil { logger.warning("the fleet broker is unreachable: \(state)") }
            update { core in
                core.fleetLost()
                return []
            }
        }
        // One broker for both: the boards' side follows, after the fleet's loss.
        if boards == nil { boardsConnection(state, side: "boards and fleet") }
        if state.isConnected { update { $0.fleetConnected(at: .now) } }
    }

    private func boardsConnection(_ state: MQTTConnectionState) {
        boardsConnection(state, side: "boards")
    }

    private func boardsConnection(_ state: MQTTConnectionState, side: String) {
        switch state {
        case .connected:
            update { $0.boardsBroker(up: true, at: .now) }
        case .waitingToReconnect:
            logger.warning("the \(side) broker is unreachable: \(state)")
            update { $0.boardsBroker(up: false, at: .now) }
        case .idle, .connecting, .stopped:
            break
        }
    }

    private func timerFired() {
        timer.fired()
        update { $0.tick(at: .now) }
    }

    // MARK: Carrying out

    /// Runs `body` on the core and carries out what it returns; the timer follows the core's next
    /// deadline. Once offline was said, nothing more is mirrored.
    private func update(_ body: (inout RelayCore) -> [RelayCore.Action]) {
        guard !stopping else { return }
        carryOut(body(&core))
        let bound = self.bound
        timer.follow(core.nextDeadline(), on: loop) { bound.value.timerFired() }
    }

    private func carryOut(_ actions: [RelayCore.Action]) {
        for action in actions {
            switch action {
            case .retain(let topic, let payload, let qos):
                states.publish(topic, payload, qos: qos)
            case .publish(let topic, let payload, let qos):
                fleet.enqueue(MQTTMessage(topic: topic, payload: payload, qos: qos))
            case .send(let topic, let payload, let qos):
                (boards ?? fleet).enqueue(MQTTMessage(topic: topic, payload: payload, qos: qos))
            case .subscribeBoards(let filters):
                // The relay must not hear its own commands to a board back (a plain sketch's topic
                // carries both ways).
                subscribe(boards ?? fleet, filters, noLocal: true)
            case .unsubscribeBoards(let filters):
                _ = (boards ?? fleet).requestUnsubscription(filters.compactMap(TopicFilter.init))
            case .subscribeCommands(let filters):
                subscribe(fleet, filters, noLocal: false, retainHandling: .doNotSend)
            case .subscribeFleet(let filters):
                subscribe(fleet, filters, noLocal: false)
            case .log(let text):
                logger.notice("\(text)")
            }
        }
    }

    private func subscribe(_ client: MQTTClient, _ filters: [String], noLocal: Bool, retainHandling: RetainHandling = .sendOnSubscribe) {
        let subscriptions = filters.compactMap {
            TopicFilter($0).map { Subscription($0, qos: .atLeastOnce, noLocal: noLocal, retainHandling: retainHandling) }
        }
        client.subscribe(subscriptions, loggingAnswersTo: logger)
    }
}
