import Scheme
import Logging
import MQTT
import NIOCore
import Profile
import ServiceLifecycle
import Synchronization

/// The relay: mirrors a relay profile's ESP8266 boards into the gpiobridge topic scheme, both
/// ways, on one broker or two (the boards' and the fleet's). All state lives in a ``RelayCore``
/// driven by one event loop; this service feeds it messages, connection changes and its own
/// deadlines, and carries out what it returns.
///
/// It is a `Service`. Run it in one `ServiceGroup` after its clients, so that on shutdown it
/// reports every board and itself offline before the clients disconnect.
public final class RelayService: Service, Sendable {
    private let profile: RelayProfile
    private let fleet: MQTTClient
    /// nil when the boards live on the fleet's broker.
    private let boards: MQTTClient?
    private let logger: Logger
    private let events: AsyncStream<Event>
    private let sink: AsyncStream<Event>.Continuation
    private let states: StateOutbox

    enum Event: Sendable {
        case fleetMessage(MQTTMessage)
        case boardsMessage(MQTTMessage)
        /// In single-broker mode the one connection serves both sides.
        case fleetConnection(MQTTConnectionState)
        case boardsConnection(MQTTConnectionState)
        case deadline(epoch: Int)
        case ping(CheckedContinuation<Void, Never>)
        case shutdown
    }

    /// `boards` is the client of the boards' broker, or nil when they live on the fleet's.
    public init(profile: RelayProfile, fleet: MQTTClient, boards: MQTTClient?, logger: Logger) {
        self.profile = profile
        self.fleet = fleet
        self.boards = boards
        self.logger = logger
        (events, sink) = AsyncStream.makeStream(of: Event.self)
        states = StateOutbox(client: fleet)
    }

    /// The will the fleet client must carry: the relay's `offline`, retained. Boards it mirrors
    /// name the relay in their info (`via`), and Home Assistant sees them unavailable with it.
    public static func will(for profile: RelayProfile) -> WillMessage {
        WillMessage(topic: "gpiobridge/\(profile.id)/status", payload: ByteBuffer(string: "offline"), qos: .atLeastOnce, retain: true)
    }

    /// The clients a relay profile needs: the fleet's, and the boards' when they live elsewhere.
    public static func clientConfigurations(for profile: RelayProfile, fleetOverride: BrokerURL? = nil, boardsOverride: BrokerURL? = nil)
        throws(PasswordError) -> (fleet: MQTTClientConfiguration, boards: MQTTClientConfiguration?)
    {
        let fleet = try BrokerSettings.clientConfiguration(profile.fleet, will: will(for: profile), override: fleetOverride)
        var boards: MQTTClientConfiguration?
        if let settings = profile.boardsBroker {
            boards = try BrokerSettings.clientConfiguration(settings, will: nil, override: boardsOverride)
        } else if let boardsOverride {
            boards = try BrokerSettings.clientConfiguration(profile.fleet, will: nil, override: boardsOverride)
            boards?.clientID += "-boards"
        }
        return (fleet, boards)
    }

    /// Returns once the event loop has handled it (READY=1 and the systemd watchdog).
    public func ping() async {
        await withCheckedContinuation { continuation in
            if case .terminated = sink.yield(.ping(continuation)) { continuation.resume() }
        }
    }

    public func run() async throws {
        var core = RelayCore(profile: profile, at: .now, unixNow: unixTimeNow(), boardsShareFleetBroker: boards == nil)
        let deadline = Deadline(sink: sink)
        defer { deadline.cancel() }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask { [fleet, sink] in
                    for await message in fleet.messages { sink.yield(.fleetMessage(message)) }
                }
                tasks.addTask { [fleet, sink] in
                    for await state in fleet.connectionStates() { sink.yield(.fleetConnection(state)) }
                }
                if let boards {
                    tasks.addTask { [sink] in
                        for await message in boards.messages { sink.yield(.boardsMessage(message)) }
                    }
                    tasks.addTask { [sink] in
                        for await state in boards.connectionStates() { sink.yield(.boardsConnection(state)) }
                    }
                }
                carryOut(core.start())
                logger.info("relay started", metadata: ["id": "\(profile.id)", "boards": "\(core.boardNames.joined(separator: ", "))"])
                var iterator = events.makeAsyncIterator()
                loop: while let event = await iterator.next() {
                    let now = ContinuousClock.now
                    switch event {
                    case .fleetMessage(let message) where message.skippedPacketSize != nil:
                        carryOut(core.skippedFleetMessage(topic: message.topic, size: message.skippedPacketSize!,
                                                          limit: fleet.configuration.maximumPacketSize, at: now))
                    case .boardsMessage(let message) where message.skippedPacketSize != nil:
                        break  // the client logged it; nothing of it can be mirrored
                    case .fleetMessage(let message):
                        if boards == nil { carryOut(core.boardMessage(topic: message.topic, payload: message.payloadString, at: now)) }
                        carryOut(core.fleetMessage(topic: message.topic, payload: message.payloadString, qos: Int(message.qos.rawValue),
                                                   retained: message.retain, at: now))
                    case .boardsMessage(let message):
                        carryOut(core.boardMessage(topic: message.topic, payload: message.payloadString, at: now))
                    case .fleetConnection(let state):
                        if case .waitingToReconnect = state {
                            if boards != nil { logger.warning("the fleet broker is unreachable: \(state)") }
                            core.fleetLost()
                        }
                        // One broker for both: the boards' side follows, after the fleet's loss.
                        if boards == nil { connectionChanged(state, side: "boards and fleet", &core, at: now) }
                        if state.isConnected { carryOut(core.fleetConnected(at: now)) }
                    case .boardsConnection(let state):
                        connectionChanged(state, side: "boards", &core, at: now)
                    case .deadline(let epoch):
                        guard deadline.fired(epoch) else { continue }
                        carryOut(core.tick(at: now))
                    case .ping(let reply):
                        reply.resume()
                    case .shutdown:
                        carryOut(core.shutdown(at: now))
                        logger.info("stopping: every board and the relay are offline to the fleet")
                        if !(await finishes(within: .seconds(2)) { [states] in _ = try? await states.flush().get() }) {
                            logger.warning("the fleet broker did not acknowledge offline within 2 s; the relay's will reports it instead")
                        }
                        break loop
                    }
                    if let next = core.nextDeadline() { deadline.schedule(next) }
                }
                // Nothing is mirrored after offline was said; whoever still waits is answered.
                sink.finish()
                while let event = await iterator.next() {
                    switch event {
                    case .ping(let reply): reply.resume()
                    default: break
                    }
                }
                tasks.cancelAll()
            }
        } onGracefulShutdown: { [sink] in
            sink.yield(.shutdown)
        }
    }

    private func connectionChanged(_ state: MQTTConnectionState, side: String, _ core: inout RelayCore, at now: ContinuousClock.Instant) {
        switch state {
        case .connected:
            carryOut(core.boardsBroker(up: true, at: now))
        case .waitingToReconnect:
            logger.warning("the \(side) broker is unreachable: \(state)")
            carryOut(core.boardsBroker(up: false, at: now))
        case .idle, .connecting, .stopped:
            break
        }
    }

    private func carryOut(_ actions: [RelayCore.Action]) {
        for action in actions {
            switch action {
            case .retain(let topic, let payload):
                states.publish(topic, payload)
            case .publish(let topic, let payload, let qos):
                fleet.enqueue(MQTTMessage(topic: topic, payload: payload, qos: qos == 0 ? .atMostOnce : .atLeastOnce))
            case .send(let topic, let payload):
                (boards ?? fleet).enqueue(MQTTMessage(topic: topic, payload: payload, qos: .atLeastOnce))
            case .subscribeBoards(let filters):
                // The relay must not hear its own commands to a board back (a plain sketch's topic
                // carries both ways).
                subscribe(boards ?? fleet, filters, noLocal: true)
            case .unsubscribeBoards(let filters):
                // Handed over now, so that a board announcing itself again right after is subscribed after this.
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

    private func subscribe(_ client: MQTTClient, _ filters: [String], noLocal: Bool,
                           retainHandling: RetainHandling = .sendOnSubscribe) {
        let subscriptions = filters.compactMap {
            TopicFilter($0).map { Subscription($0, qos: .atLeastOnce, noLocal: noLocal, retainHandling: retainHandling) }
        }
        client.subscribe(subscriptions, loggingAnswersTo: logger)
    }
}

/// The relay's one timer: it fires at the core's next deadline by putting an event into the loop.
private final class Deadline: Sendable {
    private let sink: AsyncStream<RelayService.Event>.Continuation
    private let state = Mutex<(at: ContinuousClock.Instant?, task: Task<Void, Never>?, epoch: Int)>((nil, nil, 0))

    init(sink: AsyncStream<RelayService.Event>.Continuation) {
        self.sink = sink
    }

    func schedule(_ instant: ContinuousClock.Instant) {
        state.withLock { state in
            guard state.at != instant else { return }
            state.task?.cancel()
            state.epoch += 1
            state.at = instant
            let epoch = state.epoch
            state.task = Task { [sink] in
                guard (try? await Task.sleep(until: instant, clock: .continuous)) != nil else { return }
                sink.yield(.deadline(epoch: epoch))
            }
        }
    }

    /// Whether the deadline of `epoch` is the one scheduled (an older one was replaced).
    func fired(_ epoch: Int) -> Bool {
        state.withLock { state in
            guard state.epoch == epoch else { return false }
            state.at = nil
            state.task = nil
            return true
        }
    }

    func cancel() {
        state.withLock { $0.task?.cancel() }
    }
}
