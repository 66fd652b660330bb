import Logging
import NIOCore
import NIOSSL

/// The client's state and logic: the session, the current connection, who waits for what, and the
/// connection state observers. It lives on ``eventLoop``: ``MQTTClient`` holds it in a
/// `NIOLoopBoundBox`, and every callback reaches it through a `NIOLoopBound`, so the compiler
/// refuses any other way in.
final class ClientCore {
    let eventLoop: any EventLoop
    let configuration: MQTTClientConfiguration
    let logger: Logger
    let sslContext: NIOSSLContext?
    let connector: Connector
    private let messages: AsyncStream<MQTTMessage>.Continuation
    private let delivery: MQTTDelivery?

    var session: ClientSession
    /// The protocol for the next attempt: 3.1.1 once a broker refused 5.0.
    private(set) var version: MQTTVersion
    private var clientID: String
    private var connection: Connection?
    private(set) var state = MQTTConnectionState.idle
    private var observers: [Int: AsyncStream<MQTTConnectionState>.Continuation] = [:]
    private var nextObserverID = 0
    private var publishWaiters: [OperationID: EventLoopPromise<Void>] = [:]
    private var requestWaiters: [OperationID: EventLoopPromise<[ReasonCode]>] = [:]
    private var nextOperationID: OperationID = 1
    private var reconnectWait: (promise: EventLoopPromise<Void>, task: Scheduled<Void>)?
    /// A stop waiting for inbound QoS 2 exchanges to finish.
    private var quietBeforeStop: EventLoopPromise<Void>?
    private var attempt = 0
    /// True once a connection was accepted: later connections may resume that session.
    private var hasConnected = false
    private(set) var isStopping = false
    private var isFinished = false
    /// Between the first packet of a socket read and the read's end: the answers to all of its
    /// packets (PUBACKs, and what a consumer publishes in reply, such as an agent's states) leave
    /// in one flush, one segment, instead of a write system call each.
    var isReading = false
    /// Asked by the consumer: see ``setReadingPaused(_:)``.
    private var readingPaused = false
    /// Written and not yet flushed.
    private var flushPending = false
    /// Outside a read, a flush waits in a task queued behind the writes: publications handed over
    /// from other threads in a burst (one loop task each) leave together.
    private var flushQueued = false

    init(
        configuration: MQTTClientConfiguration, sslContext: NIOSSLContext?, eventLoop: any EventLoop, logger: Logger,
        messages: AsyncStream<MQTTMessage>.Continuation, delivery: MQTTDelivery?, connector: Connector
    ) {
        self.configuration = configuration
        self.sslContext = sslContext
        self.eventLoop = eventLoop
        self.logger = logger
        self.messages = messages
        self.delivery = delivery
        self.connector = connector
        self.version = configuration.version
        self.clientID = configuration.clientID
        self.session = ClientSession(
            maximumQueuedMessages: configuration.maximumQueuedMessages,
            receiveMaximum: Int(configuration.receiveMaximum))
    }

    /// How callbacks get back to the core: checked to be on its loop at each use.
    var bound: NIOLoopBound<ClientCore> { NIOLoopBound(self, eventLoop: eventLoop) }

    // MARK: The connection's life

    func startAttempt() {
        attempt += 1
        setState(.connecting(attempt: attempt))
    }

    func useVersion(_ version: MQTTVersion) {
        self.version = version
    }

    func adopt(_ connection: Connection) {
        self.connection = connection
    }

    /// The CONNECT for an attempt: the session is resumed once a connection was accepted and the
    /// session outlives it (a session expiry under 5.0, clean session off under 3.1.1).
    func connectPacket(version: MQTTVersion) -> ConnectPacket {
        var properties = MQTTProperties()
        if version == .v5 {
            properties.sessionExpiryInterval = configuration.sessionExpiry == 0 ? nil : configuration.sessionExpiry
            properties.receiveMaximum = configuration.receiveMaximum
            properties.maximumPacketSize = UInt32(clamping: configuration.maximumPacketSize)
            properties.topicAliasMaximum = configuration.topicAliasMaximum == 0 ? nil : configuration.topicAliasMaximum
            properties.userProperties = configuration.connectUserProperties
        }
        let sessionOutlivesConnection = version == .v5 ? configuration.sessionExpiry > 0 : !configuration.cleanStart
        return ConnectPacket(
            version: version, clientID: clientID, cleanStart: hasConnected && sessionOutlivesConnection ? false : configuration.cleanStart,
            keepAlive: configuration.keepAlive, username: configuration.username, password: configuration.password.map { ByteBuffer(string: $0) },
            will: configuration.will, properties: properties)
    }

    func connectionEstablished(_ established: ConnectionStateMachine.Established, on connection: Connection) {
        if let assigned = established.assignedClientID { clientID = assigned }
        if hasConnected && !established.sessionPresent {
            logger.notice("the broker kept no session for \"\(clientID)\": subscriptions are restored and unacknowledged messages sent again")
        }
        hasConnected = true
        attempt = 0
        let info = MQTTConnectionInfo(
            version: connection.machine.version, sessionPresent: established.sessionPresent,
            clientID: clientID, keepAlive: established.keepAlive)
        logger.info(
            "connected to \(configuration.host):\(configuration.port) with MQTT \(connection.machine.version), session present: \(established.sessionPresent)"
        )
        connection.established.succeed(connection.ended.futureResult)
        run(session.connected(sessionPresent: established.sessionPresent, limits: established.limits), on: connection)
        // After the session resumed: whoever hears of the connection can publish at QoS 0 at once.
        setState(.connected(info))
    }

    func received(_ packet: MQTTPacket, on connection: Connection) {
        run(session.receive(packet), on: connection)
        if case .pubrel = packet, session.pendingInboundQoS2 == 0 { settleQuiet() }
    }

    func connectionEnded(_ connection: Connection, reason: MQTTConnectionError, wasEstablished: Bool) {
        if self.connection === connection {
            self.connection = nil
            isReading = false
            flushPending = false
        }
        settleQuiet()
        if wasEstablished { session.disconnected() }
    }

    // MARK: Operations

    func publish(_ message: MQTTMessage) -> EventLoopFuture<Void> {
        guard !isFinished else { return eventLoop.makeFailedFuture(MQTTClientError.session(.sessionClosed)) }
        let packet = PublishPacket(message)
        if let tooLarge = sizeError(packet) { return eventLoop.makeFailedFuture(tooLarge) }
        let operation = nextOperationID
        nextOperationID += 1
        let promise = eventLoop.makePromise(of: Void.self)
        publishWaiters[operation] = promise
        run(session.publish(packet, operation: operation), on: connection)
        if message.qos != .atMostOnce {
            limitWait(promise, operation, what: message.qos == .atLeastOnce ? "PUBACK" : "PUBREC and PUBCOMP") { core, operation in
                core.publishWaiters.removeValue(forKey: operation)
            }
        }
        return promise.futureResult
    }

    /// Publishes with nobody to tell how it went: no promise, no waiter. A QoS 0 message without
    /// a connection is dropped silently; one too large is logged.
    func publishUnobserved(_ message: MQTTMessage) {
        guard !isFinished else { return }
        let packet = PublishPacket(message)
        if let tooLarge = sizeError(packet) {
            logger.warning("a message to \(message.topic) was not sent: \(tooLarge)")
            return
        }
        run(session.publish(packet, operation: nil), on: connection)
    }

    /// The Maximum Packet Size error for `packet` on the current connection, if any.
    private func sizeError(_ packet: PublishPacket) -> MQTTClientError? {
        guard let connection, connection.machine.isEstablished else { return nil }
        return Self.sizeError(packet, version: connection.machine.version, limit: connection.machine.serverMaximumPacketSize)
    }

    /// With ``MQTTClientConfiguration/answerTimeout`` set, fails `promise` if the broker has not
    /// answered by then (a SUBACK that never comes, or comes with another packet id).
    private func limitWait<T>(
        _ promise: EventLoopPromise<T>, _ operation: OperationID, what: String,
        remove: @escaping @Sendable (ClientCore, OperationID) -> EventLoopPromise<T>?
    ) {
        guard let limit = configuration.answerTimeout else { return }
        let core = bound
        let timer = eventLoop.scheduleTask(in: TimeAmount(limit)) {
            remove(core.value, operation)?.fail(MQTTClientError.noAnswer(what, after: limit))
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
    }

    func subscribe(_ subscriptions: [Subscription], properties: MQTTProperties) -> EventLoopFuture<[ReasonCode]> {
        request("SUBACK") { session.subscribe(subscriptions, properties: properties, operation: $0) }
    }

    func unsubscribe(_ filters: [TopicFilter], properties: MQTTProperties) -> EventLoopFuture<[ReasonCode]> {
        request("UNSUBACK") { session.unsubscribe(filters, properties: properties, operation: $0) }
    }

    private func request(_ answer: String, _ start: (OperationID) -> [ClientSession.Action]) -> EventLoopFuture<[ReasonCode]> {
        guard !isFinished else { return eventLoop.makeFailedFuture(MQTTClientError.session(.sessionClosed)) }
        let operation = nextOperationID
        nextOperationID += 1
        let promise = eventLoop.makePromise(of: [ReasonCode].self)
        requestWaiters[operation] = promise
        run(start(operation), on: connection)
        limitWait(promise, operation, what: answer) { core, operation in core.requestWaiters.removeValue(forKey: operation) }
        return promise.futureResult
    }

    /// Carries out what the session decided.
    func run(_ actions: [ClientSession.Action], on connection: Connection?) {
        var wrote = false
        for action in actions {
            switch action {
            case .send(let packet):
                guard let connection, connection.machine.isEstablished else { continue }
                write(packet, on: connection)
                wrote = true
            case .deliver(let publish):
                deliver(
                    MQTTMessage(
                        topic: publish.topic, payload: publish.payload, qos: publish.qos,
                        retain: publish.retain, properties: publish.properties))
            case .reportSkipped(let publish):
                var message = MQTTMessage(topic: publish.topic, payload: ByteBuffer(), qos: publish.qos, retain: publish.retain)
                message.skippedPacketSize = publish.size
                deliver(message)
            case .complete(let operation, let completion):
                complete(operation, completion)
            case .disconnect(let code, let detail):
                if let connection { carryOut(connection.machine.violation(code, detail), on: connection) }
            }
        }
        guard wrote else { return }
        flushPending = true
        guard !isReading, !flushQueued else { return }
        flushQueued = true
        let core = bound
        eventLoop.execute {
            core.value.flushQueued = false
            core.value.flushIfPending()
        }
    }

    /// Stops (or resumes) reading from the broker: TCP then holds the broker back, within its own
    /// queue limits. Outgoing packets still leave.
    func setReadingPaused(_ paused: Bool) {
        guard paused != readingPaused else { return }
        readingPaused = paused
        applyReading()
    }

    private func applyReading() {
        guard let channel = connection?.channel else { return }
        try? channel.syncOptions?.setOption(.autoRead, value: !readingPaused)
    }

    /// The socket read is done: its packets' answers leave together.
    func readComplete() {
        isReading = false
        flushIfPending()
    }

    private func flushIfPending() {
        guard flushPending, !isReading else { return }
        flushPending = false
        connection?.writeQueued()
        connection?.channel?.flush()
    }

    private func deliver(_ message: MQTTMessage) {
        guard let delivery else {
            messages.yield(message)
            return
        }
        delivery.message(message)
    }

    private func complete(_ operation: OperationID, _ completion: ClientSession.Completion) {
        switch completion {
        case .published:
            publishWaiters.removeValue(forKey: operation)?.succeed(())
        case .publishRefused(let code, let reason):
            publishWaiters.removeValue(forKey: operation)?.fail(MQTTClientError.publishRefused(code, reasonString: reason))
        case .acknowledged(let codes):
            requestWaiters.removeValue(forKey: operation)?.succeed(codes)
        case .failed(let error):
            if let promise = publishWaiters.removeValue(forKey: operation) {
                promise.fail(MQTTClientError.session(error))
            } else {
                requestWaiters.removeValue(forKey: operation)?.fail(MQTTClientError.session(error))
            }
        }
    }

    /// The Maximum Packet Size error for `packet`, or nil if it fits [MQTT-3.2.2-15].
    static func sizeError(_ packet: PublishPacket, version: MQTTVersion, limit: Int) -> MQTTClientError? {
        guard limit < Int.max else { return nil }
        // Cheap bound first; encode only when the packet may be near the limit.
        if packet.payload.readableBytes + packet.topic.utf8.count + 64 < limit { return nil }
        var buffer = ByteBuffer()
        var probe = packet
        if probe.qos != .atMostOnce { probe.packetID = 1 }
        do {
            try MQTTPacketEncoder(version: version).encode(.publish(probe), into: &buffer)
        } catch {
            return .encoding(error.description)
        }
        return buffer.readableBytes > limit ? .packetTooLarge(size: buffer.readableBytes, limit: limit) : nil
    }

    // MARK: Reconnect and stop

    /// Waits `delay` before the next attempt; ends early if the client stops.
    func waitBeforeReconnect(_ delay: Duration, after error: MQTTConnectionError) -> EventLoopFuture<Void> {
        guard !isStopping else { return eventLoop.makeSucceededVoidFuture() }
        setState(.waitingToReconnect(delay: delay, lastError: error))
        let promise = eventLoop.makePromise(of: Void.self)
        let task = eventLoop.scheduleTask(in: TimeAmount(delay)) { promise.succeed(()) }
        reconnectWait = (promise, task)
        let core = bound
        return promise.futureResult.always { _ in core.value.reconnectWait = nil }
    }

    /// Starts a graceful stop: DISCONNECT and close (see ``ConnectionStateMachine/disconnect(sendingWill:)``).
    func stop(sendingWill: Bool) -> EventLoopFuture<Void> {
        isStopping = true
        if let wait = reconnectWait {
            wait.task.cancel()
            wait.promise.succeed(())
        }
        guard let connection else { return eventLoop.makeSucceededVoidFuture() }
        guard connection.machine.isEstablished, connection.channel != nil else {
            carryOut(connection.machine.abandon(.closedByBroker), on: connection)
            return eventLoop.makeSucceededVoidFuture()
        }
        guard !sendingWill, session.pendingInboundQoS2 > 0 else { return disconnect(connection, sendingWill: sendingWill) }
        // A QoS 2 message delivered and answered with PUBREC is not done until PUBREL and our
        // PUBCOMP: finish those exchanges first, briefly, so that the broker does not send it again.
        let quiet = eventLoop.makePromise(of: Void.self)
        quietBeforeStop = quiet
        let core = bound
        let limit = eventLoop.scheduleTask(in: Self.quietLimit) { core.value.settleQuiet() }
        let closing = NIOLoopBound(connection, eventLoop: eventLoop)
        return quiet.futureResult.flatMap {
            limit.cancel()
            return core.value.disconnect(closing.value, sendingWill: false)
        }
    }

    /// How long a stop waits for QoS 2 exchanges to finish.
    static let quietLimit = TimeAmount.seconds(2)

    /// Lets a stop that waits for QoS 2 exchanges go on.
    private func settleQuiet() {
        guard let quiet = quietBeforeStop else { return }
        quietBeforeStop = nil
        quiet.succeed(())
    }

    private func disconnect(_ connection: Connection, sendingWill: Bool) -> EventLoopFuture<Void> {
        guard connection.machine.isEstablished, connection.channel != nil else { return eventLoop.makeSucceededVoidFuture() }
        logger.info("disconnecting from \(configuration.host):\(configuration.port)\(sendingWill ? " (will requested)" : "")")
        carryOut(connection.machine.disconnect(sendingWill: sendingWill), on: connection)
        return connection.ended.futureResult.map { _ in }
    }

    /// The client is done: fail what waits, end the streams.
    func finish() {
        guard !isFinished else { return }
        isFinished = true
        isStopping = true
        if let connection { carryOut(connection.machine.abandon(.closedByBroker), on: connection) }
        for action in session.close() {
            if case .complete(let operation, let completion) = action { complete(operation, completion) }
        }
        messages.finish()
        setState(.stopped)
        for observer in observers.values { observer.finish() }
        observers.removeAll()
    }

    // MARK: State

    func addObserver(_ continuation: AsyncStream<MQTTConnectionState>.Continuation) {
        continuation.yield(state)
        if isFinished {
            continuation.finish()
            return
        }
        let id = nextObserverID
        nextObserverID += 1
        observers[id] = continuation
        let core = bound
        let eventLoop = self.eventLoop
        continuation.onTermination = { _ in
            eventLoop.execute { core.value.observers[id] = nil }
        }
    }

    private func setState(_ newState: MQTTConnectionState) {
        state = newState
        // A new connection reads its CONNACK; a pause asked for before holds from then on.
        if readingPaused, newState.isConnected { applyReading() }
        delivery?.connection(newState)
        for observer in observers.values { observer.yield(newState) }
    }
}

extension Duration {
    init(_ amount: TimeAmount) {
        self = .nanoseconds(amount.nanoseconds)
    }
}
