import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// One TCP (or TLS) connection's state. Lives on the client's event loop only.
final class Connection: MQTTConnectionHandler.Delegate, @unchecked Sendable {
    enum Phase { case handshaking, established, closed }

    weak var core: ClientCore?
    let version: MQTTVersion
    var phase = Phase.handshaking
    var channel: (any Channel)?
    /// Succeeds at CONNACK with the future of the connection's end; fails if it never got there.
    let established: EventLoopPromise<EventLoopFuture<MQTTConnectionError>>
    let ended: EventLoopPromise<MQTTConnectionError>
    var endReason: MQTTConnectionError?
    var keepAlive: KeepAliveMonitor?
    var keepAliveTimer: Scheduled<Void>?
    var handshakeTimer: Scheduled<Void>?
    var serverMaximumPacketSize = Int.max
    var outboundAliasLimit: UInt16 = 0
    var outboundAliases: [String: UInt16] = [:]
    var inboundAliases: [UInt16: String] = [:]

    init(core: ClientCore, version: MQTTVersion, eventLoop: any EventLoop) {
        self.core = core
        self.version = version
        self.established = eventLoop.makePromise()
        self.ended = eventLoop.makePromise()
    }

    func connection(received packet: MQTTPacket) { core?.received(packet, on: self) }
    func connection(skipped publish: OversizedPublish) { core?.skipped(publish, on: self) }
    func connection(caught error: any Error) { core?.caught(error, on: self) }
    func connectionClosed() { core?.end(self, reason: endReason ?? .closedByBroker) }
}

/// The client's state and logic. Every method runs on ``eventLoop``; ``MQTTClient`` hops there.
final class ClientCore: @unchecked Sendable {
    let eventLoop: any EventLoop
    let configuration: MQTTClientConfiguration
    let logger: Logger
    private let sslContext: NIOSSLContext?
    private let messages: AsyncStream<MQTTMessage>.Continuation
    private let delivery: MQTTDelivery?

    private var session: ClientSession
    /// The protocol for the next attempt: 3.1.1 once a broker refused 5.0.
    private var version: MQTTVersion
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

    init(configuration: MQTTClientConfiguration, sslContext: NIOSSLContext?, eventLoop: any EventLoop, logger: Logger,
         messages: AsyncStream<MQTTMessage>.Continuation, delivery: MQTTDelivery?) {
        self.configuration = configuration
        self.sslContext = sslContext
        self.eventLoop = eventLoop
        self.logger = logger
        self.messages = messages
        self.delivery = delivery
        self.version = configuration.version
        self.clientID = configuration.clientID
        self.session = ClientSession(maximumQueuedMessages: configuration.maximumQueuedMessages,
                                     receiveMaximum: Int(configuration.receiveMaximum))
    }

    // MARK: Connecting

    /// Connects once (falling back to 3.1.1 if allowed). The future succeeds at CONNACK with the
    /// future of the connection's end, or fails with why no connection was made.
    func establish() -> EventLoopFuture<EventLoopFuture<MQTTConnectionError>> {
        eventLoop.preconditionInEventLoop()
        // stop() may have run between the run loop's check and this call: do not connect then.
        guard !isStopping else { return eventLoop.makeFailedFuture(MQTTConnectionError.closedByBroker) }
        attempt += 1
        setState(.connecting(attempt: attempt))
        let first = version
        return attemptConnection(version: first).flatMapError { error in
            guard first == .v5, self.configuration.fallbackToV3_1_1, !self.isStopping else {
                return self.eventLoop.makeFailedFuture(error)
            }
            // Only the broker's own word makes us fall back (and stay): a timeout or a closed
            // socket says nothing about the protocol, and must not cost 5.0 for good.
            switch error as? MQTTConnectionError {
            case .refused(.unsupportedProtocolVersion, _, _)?:
                self.logger.notice("the broker does not accept MQTT 5.0 (\(error)); using MQTT 3.1.1 from now on")
                self.version = .v3_1_1
                return self.attemptConnection(version: .v3_1_1)
            case .noConnAck?:
                self.logger.notice("no CONNACK to an MQTT 5.0 CONNECT: a broker that speaks only 3.1.1 may ignore it (amqtt does); if so, set protocol: 3.1.1 (-V 311)")
                return self.eventLoop.makeFailedFuture(error)
            default:
                return self.eventLoop.makeFailedFuture(error)
            }
        }.flatMapError { error in
            // BoringSSL says only "verify failed": an expired certificate deserves its own words.
            guard case .tls(.untrustedCertificate)? = error as? MQTTConnectionError else { return self.eventLoop.makeFailedFuture(error) }
            let host = self.configuration.host
            let serverName = self.configuration.tls?.serverName ?? (Self.isIPAddress(host) ? nil : host)
            return CertificateProbe.dateFailure(host: host, port: self.configuration.port, serverName: serverName,
                                                timeout: self.configuration.connectTimeout, on: self.eventLoop)
                .flatMap { refined in self.eventLoop.makeFailedFuture(refined.map { MQTTConnectionError.tls($0) } ?? error) }
        }
    }

    private func attemptConnection(version: MQTTVersion) -> EventLoopFuture<EventLoopFuture<MQTTConnectionError>> {
        let connection = Connection(core: self, version: version, eventLoop: eventLoop)
        self.connection = connection
        let host = configuration.host
        let port = configuration.port
        let timeout = configuration.connectTimeout
        connection.handshakeTimer = eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
            let reason: MQTTConnectionError = connection.channel == nil
                ? .connectTimedOut(host: host, port: port, after: timeout) : .noConnAck(after: timeout)
            abandon(connection, reason: reason)
        }
        let sslContext = self.sslContext
        let serverName = configuration.tls?.serverName ?? (Self.isIPAddress(host) ? nil : host)
        let maximumPacketSize = configuration.maximumPacketSize
        ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(timeout))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let pipeline = channel.pipeline.syncOperations
                    #if os(Linux)
                    try pipeline.addHandler(QuickAckHandler())
                    #endif
                    if let sslContext {
                        try pipeline.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                    let decoder = MQTTPacketDecoder(version: version, maximumPacketSize: maximumPacketSize)
                    try pipeline.addHandler(ByteToMessageHandler(MQTTFrameDecoder(decoder: decoder)))
                    try pipeline.addHandler(MessageToByteHandler(MQTTFrameEncoder(encoder: MQTTPacketEncoder(version: version))))
                    try pipeline.addHandler(MQTTConnectionHandler(delegate: connection))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .connect(host: host, port: port)
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    guard connection.phase == .handshaking else {
                        channel.close(promise: nil)
                        return
                    }
                    connection.channel = channel
                    sendConnect(on: connection)
                case .failure(let error):
                    end(connection, reason: Self.classify(connectError: error, host: host, port: port, timeout: timeout))
                }
            }
        return connection.established.futureResult
    }

    private func sendConnect(on connection: Connection) {
        var properties = MQTTProperties()
        if connection.version == .v5 {
            properties.sessionExpiryInterval = configuration.sessionExpiry == 0 ? nil : configuration.sessionExpiry
            properties.receiveMaximum = configuration.receiveMaximum
            properties.maximumPacketSize = UInt32(clamping: configuration.maximumPacketSize)
            properties.topicAliasMaximum = configuration.topicAliasMaximum == 0 ? nil : configuration.topicAliasMaximum
            properties.userProperties = configuration.connectUserProperties
        }
        let sessionOutlivesConnection = connection.version == .v5 ? configuration.sessionExpiry > 0 : !configuration.cleanStart
        let cleanStart = hasConnected && sessionOutlivesConnection ? false : configuration.cleanStart
        let connect = ConnectPacket(
            version: connection.version, clientID: clientID, cleanStart: cleanStart, keepAlive: configuration.keepAlive,
            username: configuration.username, password: configuration.password.map { ByteBuffer(string: $0) },
            will: configuration.will, properties: properties)
        if configuration.tls?.insecure == true {
            logger.warning("TLS certificate and hostname verification are OFF (--insecure): the broker is not authenticated")
        }
        write(.connect(connect), on: connection)
        connection.channel?.flush()
    }

    private func handleConnAck(_ ack: ConnAckPacket, on connection: Connection) {
        connection.handshakeTimer?.cancel()
        if ack.reasonCode.isFailure {
            abandon(connection, reason: .refused(ack.reasonCode, reasonString: ack.properties.reasonString,
                                                 version: connection.version))
            return
        }
        let properties = ack.properties
        let askedClean = !(hasConnected && (connection.version == .v5 ? configuration.sessionExpiry > 0 : !configuration.cleanStart))
            && configuration.cleanStart
        if askedClean && ack.sessionPresent {
            violation(on: connection, .protocolError, "CONNACK says session present after a clean start [MQTT-3.2.2-4]")
            return
        }
        var limits = ClientSession.ServerLimits()
        if let receiveMaximum = properties.receiveMaximum { limits.receiveMaximum = Int(receiveMaximum) }
        if let maximumQoS = properties.maximumQoS { limits.maximumQoS = QoS(rawValue: maximumQoS) ?? .exactlyOnce }
        if let retainAvailable = properties.retainAvailable { limits.retainAvailable = retainAvailable == 1 }
        connection.serverMaximumPacketSize = properties.maximumPacketSize.map { Int($0) } ?? .max
        connection.outboundAliasLimit = configuration.useTopicAliases ? properties.topicAliasMaximum ?? 0 : 0
        if let assigned = properties.assignedClientIdentifier { clientID = assigned }
        let keepAlive = properties.serverKeepAlive ?? configuration.keepAlive
        if keepAlive > 0 {
            let now = NIODeadline.now()
            connection.keepAlive = KeepAliveMonitor(interval: .seconds(Int64(keepAlive)), now: now)
            scheduleKeepAlive(on: connection, at: now + .milliseconds(Int64(keepAlive) * 500))
        }
        if hasConnected && !ack.sessionPresent {
            logger.notice("the broker kept no session for \"\(clientID)\": subscriptions are restored and unacknowledged messages sent again")
        }
        hasConnected = true
        attempt = 0
        connection.phase = .established
        let info = MQTTConnectionInfo(version: connection.version, sessionPresent: ack.sessionPresent,
                                      clientID: clientID, keepAlive: keepAlive)
        logger.info("connected to \(configuration.host):\(configuration.port) with MQTT \(connection.version), session present: \(ack.sessionPresent)")
        connection.established.succeed(connection.ended.futureResult)
        run(session.connected(sessionPresent: ack.sessionPresent, limits: limits), on: connection)
        // After the session resumed: whoever hears of the connection can publish at QoS 0 at once.
        setState(.connected(info))
    }

    // MARK: Events from the connection

    func received(_ packet: MQTTPacket, on connection: Connection) {
        guard connection === self.connection, connection.phase != .closed else { return }
        connection.keepAlive?.packetReceived(at: .now())
        guard connection.phase == .established else {
            if case .connack(let ack) = packet {
                handleConnAck(ack, on: connection)
            } else {
                violation(on: connection, .protocolError, "expected CONNACK, received \(packet.type)")
            }
            return
        }
        switch packet {
        case .pingresp:
            break
        case .publish(var publish):
            guard resolveInboundAlias(&publish, on: connection) else { return }
            run(session.receive(.publish(publish)), on: connection)
        case .puback, .pubrec, .pubrel, .pubcomp, .suback, .unsuback:
            run(session.receive(packet), on: connection)
            if case .pubrel = packet, session.pendingInboundQoS2 == 0 { settleQuiet() }
        case .disconnect(let disconnect):
            if disconnect.reasonCode == .sessionTakenOver {
                // Two clients with one id knock each other off in turn; say which id, and why.
                logger.warning("another client with id \(configuration.clientID) took over the session (two clients must not share one id)")
            } else {
                logger.warning("the broker sent DISCONNECT: \(disconnect.reasonCode)")
            }
            abandon(connection, reason: .disconnectedByBroker(disconnect.reasonCode,
                                                               reasonString: disconnect.properties.reasonString))
        case .auth:
            violation(on: connection, .protocolError, "enhanced authentication (AUTH) was not requested")
        case .connack, .connect, .subscribe, .unsubscribe, .pingreq:
            violation(on: connection, .protocolError, "a broker does not send \(packet.type)")
        }
    }

    /// A PUBLISH over our maximum packet size: acknowledged and reported, and the connection stays.
    func skipped(_ publish: OversizedPublish, on connection: Connection) {
        guard connection === self.connection, connection.phase == .established else {
            if connection.phase == .handshaking { violation(on: connection, .protocolError, "expected CONNACK, received PUBLISH") }
            return
        }
        connection.keepAlive?.packetReceived(at: .now())
        let topic = publish.topic.isEmpty ? "(a topic alias)" : publish.topic
        logger.warning("skipped a message of \(publish.size) bytes on \(topic): over the maximum packet size of \(configuration.maximumPacketSize) bytes")
        run(session.skipped(publish, refusal: connection.version == .v5 ? .implementationSpecificError : nil), on: connection)
    }

    func caught(_ error: any Error, on connection: Connection) {
        guard connection.phase != .closed else { return }
        if let decodeError = error as? MQTTDecodeError {
            violation(on: connection, decodeError.reasonCode, decodeError.detail)
            return
        }
        let reason = Self.classify(channelError: error, host: configuration.tls?.serverName ?? configuration.host)
        connection.endReason = connection.endReason ?? reason
        connection.channel?.close(promise: nil)
    }

    /// Ends `connection` now for `reason`, whatever its channel is doing.
    func end(_ connection: Connection, reason: MQTTConnectionError) {
        guard connection.phase != .closed else { return }
        let wasEstablished = connection.phase == .established
        connection.phase = .closed
        connection.handshakeTimer?.cancel()
        connection.keepAliveTimer?.cancel()
        connection.channel?.close(promise: nil)
        if self.connection === connection { self.connection = nil }
        settleQuiet()
        if wasEstablished {
            session.disconnected()
        } else {
            connection.established.fail(reason)
        }
        connection.ended.succeed(reason)
    }

    /// Records `reason` and closes; a TLS close may linger, but the client moves on now.
    private func abandon(_ connection: Connection, reason: MQTTConnectionError) {
        connection.endReason = reason
        end(connection, reason: reason)
    }

    /// The broker broke the protocol: DISCONNECT with `code` (5.0), then close [MQTT-4.13].
    private func violation(on connection: Connection, _ code: ReasonCode, _ detail: String) {
        // 3.1.1 has no DISCONNECT from a client with a reason: the socket is simply closed.
        logger.error(connection.version == .v5
            ? "protocol violation by the broker: \(detail); disconnecting with \(code)"
            : "protocol violation by the broker (\(code.name)): \(detail); closing the connection")
        let reason = MQTTConnectionError.protocolViolation(code, detail: detail, version: connection.version)
        connection.endReason = reason
        if connection.version == .v5, let channel = connection.channel {
            var properties = MQTTProperties()
            properties.reasonString = String(detail.utf8.prefix(200)) ?? "protocol error"
            let disconnect = MQTTPacket.disconnect(ReasonPacket(reasonCode: code, properties: properties))
            channel.writeAndFlush(disconnect, promise: nil)
        }
        end(connection, reason: reason)
    }

    private func resolveInboundAlias(_ publish: inout PublishPacket, on connection: Connection) -> Bool {
        guard let alias = publish.properties.topicAlias else { return true }
        guard alias <= configuration.topicAliasMaximum else {
            violation(on: connection, .topicAliasInvalid,
                      "topic alias \(alias) exceeds our maximum of \(configuration.topicAliasMaximum)")
            return false
        }
        if publish.topic.isEmpty {
            guard let topic = connection.inboundAliases[alias] else {
                violation(on: connection, .protocolError, "topic alias \(alias) was never set on this connection")
                return false
            }
            publish.topic = topic
        } else {
            connection.inboundAliases[alias] = publish.topic
        }
        publish.properties.topicAlias = nil
        return true
    }

    // MARK: Keep alive

    private func scheduleKeepAlive(on connection: Connection, at deadline: NIODeadline) {
        connection.keepAliveTimer = eventLoop.scheduleTask(deadline: deadline) { [self] in
            keepAliveDue(on: connection)
        }
    }

    private func keepAliveDue(on connection: Connection) {
        guard connection.phase == .established, var monitor = connection.keepAlive else { return }
        let (action, next) = monitor.evaluate(now: .now())
        connection.keepAlive = monitor
        switch action {
        case .sendPing:
            write(.pingreq, on: connection)
            connection.channel?.flush()
        case .timedOut(let silence):
            logger.warning("no packet from the broker for \(Duration(silence).formattedSeconds) despite PINGREQ: connection is half-open, dropping it")
            abandon(connection, reason: .keepAliveTimedOut(silence: Duration(silence)))
            return
        case nil:
            break
        }
        scheduleKeepAlive(on: connection, at: next)
    }

    // MARK: Operations

    func publish(_ message: MQTTMessage) -> EventLoopFuture<Void> {
        guard !isFinished else { return eventLoop.makeFailedFuture(MQTTClientError.session(.sessionClosed)) }
        let packet = PublishPacket(topic: message.topic, payload: message.payload, qos: message.qos,
                                   retain: message.retain, properties: message.properties)
        if let connection, connection.phase == .established,
            let tooLarge = Self.sizeError(packet, version: connection.version, limit: connection.serverMaximumPacketSize)
        {
            return eventLoop.makeFailedFuture(tooLarge)
        }
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

    /// With ``MQTTClientConfiguration/answerTimeout`` set, fails `promise` if the broker has not
    /// answered by then (a SUBACK that never comes, or comes with another packet id).
    private func limitWait<T>(_ promise: EventLoopPromise<T>, _ operation: OperationID, what: String,
                              remove: @escaping @Sendable (ClientCore, OperationID) -> EventLoopPromise<T>?) {
        guard let limit = configuration.answerTimeout else { return }
        let timer = eventLoop.scheduleTask(in: TimeAmount(limit)) { [self] in
            remove(self, operation)?.fail(MQTTClientError.noAnswer(what, after: limit))
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

    private func run(_ actions: [ClientSession.Action], on connection: Connection?) {
        var wrote = false
        for action in actions {
            switch action {
            case .send(let packet):
                guard let connection, connection.phase == .established else { continue }
                write(packet, on: connection)
                wrote = true
            case .deliver(let publish):
                deliver(MQTTMessage(topic: publish.topic, payload: publish.payload, qos: publish.qos,
                                    retain: publish.retain, properties: publish.properties))
            case .reportSkipped(let publish):
                var message = MQTTMessage(topic: publish.topic, payload: ByteBuffer(), qos: publish.qos, retain: publish.retain)
                message.skippedPacketSize = publish.size
                deliver(message)
            case .complete(let operation, let completion):
                complete(operation, completion)
            case .disconnect(let code, let detail):
                if let connection { violation(on: connection, code, detail) }
            }
        }
        if wrote { connection?.channel?.flush() }
    }

    private func deliver(_ message: MQTTMessage) {
        if let delivery { delivery.message(message) } else { messages.yield(message) }
    }

    private func write(_ packet: MQTTPacket, on connection: Connection) {
        var packet = packet
        if case .publish(var publish) = packet, connection.outboundAliasLimit > 0 {
            // Aliases belong to this connection only: a new connection starts with none [MQTT-3.3.2-10].
            if let alias = connection.outboundAliases[publish.topic] {
                publish.properties.topicAlias = alias
                publish.topic = ""
            } else if connection.outboundAliases.count < Int(connection.outboundAliasLimit) {
                let alias = UInt16(connection.outboundAliases.count + 1)
                connection.outboundAliases[publish.topic] = alias
                publish.properties.topicAlias = alias
            }
            packet = .publish(publish)
        }
        connection.channel?.write(packet, promise: nil)
        connection.keepAlive?.packetSent(at: .now())
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

    // MARK: Reconnect and stop

    /// Waits `delay` before the next attempt; ends early if the client stops.
    func waitBeforeReconnect(_ delay: Duration, after error: MQTTConnectionError) -> EventLoopFuture<Void> {
        guard !isStopping else { return eventLoop.makeSucceededVoidFuture() }
        setState(.waitingToReconnect(delay: delay, lastError: error))
        let promise = eventLoop.makePromise(of: Void.self)
        let task = eventLoop.scheduleTask(in: TimeAmount(delay)) { promise.succeed(()) }
        reconnectWait = (promise, task)
        return promise.futureResult.always { [self] _ in reconnectWait = nil }
    }

    /// Starts a graceful stop: DISCONNECT and close. DISCONNECT 0x00 makes the broker discard the
    /// will; with `sendingWill` it is 0x04 under 5.0, and under 3.1.1 (which has no such code) the
    /// socket is closed without DISCONNECT, which publishes the will too.
    func stop(sendingWill: Bool) -> EventLoopFuture<Void> {
        isStopping = true
        if let wait = reconnectWait {
            wait.task.cancel()
            wait.promise.succeed(())
        }
        guard let connection else { return eventLoop.makeSucceededVoidFuture() }
        guard connection.phase == .established, connection.channel != nil else {
            end(connection, reason: .closedByBroker)
            return eventLoop.makeSucceededVoidFuture()
        }
        guard !sendingWill, session.pendingInboundQoS2 > 0 else { return disconnect(connection, sendingWill: sendingWill) }
        // A QoS 2 message delivered and answered with PUBREC is not done until PUBREL and our
        // PUBCOMP: finish those exchanges first, briefly, so that the broker does not send it again.
        let quiet = eventLoop.makePromise(of: Void.self)
        quietBeforeStop = quiet
        let limit = eventLoop.scheduleTask(in: Self.quietLimit) { [self] in settleQuiet() }
        return quiet.futureResult.flatMap { [self] in
            limit.cancel()
            return disconnect(connection, sendingWill: false)
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
        guard connection.phase == .established, let channel = connection.channel else { return eventLoop.makeSucceededVoidFuture() }
        let closed: EventLoopFuture<Void>
        if sendingWill && connection.version == .v3_1_1 {
            closed = channel.close().recover { _ in }
        } else {
            let code: ReasonCode = sendingWill ? .disconnectWithWillMessage : .success
            closed = channel.writeAndFlush(MQTTPacket.disconnect(ReasonPacket(reasonCode: code)))
                .flatMap { channel.close() }
                .recover { _ in }
        }
        logger.info("disconnecting from \(configuration.host):\(configuration.port)\(sendingWill ? " (will requested)" : "")")
        let reason = MQTTConnectionError.closedByBroker
        connection.endReason = reason
        return closed.always { [self] _ in end(connection, reason: reason) }
    }

    /// The client is done: fail what waits, end the streams.
    func finish() {
        guard !isFinished else { return }
        isFinished = true
        isStopping = true
        if let connection { end(connection, reason: .closedByBroker) }
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
        continuation.onTermination = { [self] _ in
            eventLoop.execute { self.observers[id] = nil }
        }
    }

    private func setState(_ newState: MQTTConnectionState) {
        state = newState
        delivery?.connection(newState)
        for observer in observers.values { observer.yield(newState) }
    }
}

extension ClientCore {
    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
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

    /// Names the stage that failed: DNS, TCP or timeout.
    static func classify(connectError error: any Error, host: String, port: Int, timeout: Duration) -> MQTTConnectionError {
        if let connectionError = error as? NIOConnectionError {
            if connectionError.connectionErrors.isEmpty {
                let dnsError = connectionError.dnsAError ?? connectionError.dnsAAAAError
                return .dnsLookupFailed(host: host, detail: dnsError.map { "\($0)" } ?? "no addresses found")
            }
            let details = connectionError.connectionErrors.map { describe($0.error) }
            return .tcpConnectFailed(host: host, port: port, detail: details.joined(separator: "; "))
        }
        if let channelError = error as? ChannelError, case .connectTimeout = channelError {
            return .connectTimedOut(host: host, port: port, after: timeout)
        }
        return .tcpConnectFailed(host: host, port: port, detail: describe(error))
    }

    /// Names a TLS failure precisely; anything else is an I/O error.
    static func classify(channelError error: any Error, host: String) -> MQTTConnectionError {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return .tls(.hostnameMismatch(host: host))
        }
        if let sslError = error as? NIOSSLError {
            switch sslError {
            case .uncleanShutdown:
                return .closedByBroker
            case .handshakeFailed(let boringError):
                return .tls(tlsFailure(reasons: Self.reasons("\(boringError)")))
            default:
                return .tls(.handshakeFailed(detail: "\(sslError)"))
            }
        }
        if let boringError = error as? BoringSSLError {
            return .tls(tlsFailure(reasons: Self.reasons("\(boringError)")))
        }
        return .io(describe(error))
    }

    /// What a handshake failure means, from BoringSSL's reasons (the broker's alerts among them).
    static func tlsFailure(reasons: [String]) -> MQTTConnectionError.TLSFailure {
        if reasons.contains("CERTIFICATE_VERIFY_FAILED") { return .untrustedCertificate(detail: "certificate verify failed") }
        if reasons.contains(where: { $0.hasSuffix("ALERT_CERTIFICATE_REQUIRED") }) { return .clientCertificateRequired }
        let rejections = ["ALERT_UNKNOWN_CA", "ALERT_BAD_CERTIFICATE", "ALERT_CERTIFICATE_UNKNOWN", "ALERT_UNSUPPORTED_CERTIFICATE",
                          "ALERT_CERTIFICATE_REVOKED", "ALERT_CERTIFICATE_EXPIRED", "ALERT_DECRYPT_ERROR"]
        if let alert = reasons.first(where: { reason in rejections.contains { reason.hasSuffix($0) } }) {
            return .clientCertificateRejected(alert: alert)
        }
        return .handshakeFailed(detail: reasons.isEmpty ? "no reason given" : reasons.joined(separator: ", "))
    }

    /// The reason names in a BoringSSL error text ("...:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA at
    /// /path/tls_record.cc:491"), without codes or source paths.
    static func reasons(_ text: String) -> [String] {
        var reasons: [String] = []
        for part in text.split(separator: "OPENSSL_internal:", omittingEmptySubsequences: false).dropFirst() {
            let name = String(part.prefix { $0.isUppercase || $0.isNumber || $0 == "_" })
            if !name.isEmpty && !reasons.contains(name) { reasons.append(name) }
        }
        return reasons
    }

    private static func describe(_ error: any Error) -> String {
        if let ioError = error as? IOError {
            switch ioError.errnoCode {
            case ECONNREFUSED: return "connection refused (is the broker running and listening on this port?)"
            case ENETUNREACH, EHOSTUNREACH: return "network unreachable"
            case ECONNRESET: return "connection reset by peer"
            case ETIMEDOUT: return "timed out"
            default: return "\(ioError)"
            }
        }
        return "\(error)"
    }
}

extension Duration {
    init(_ amount: TimeAmount) {
        self = .nanoseconds(amount.nanoseconds)
    }
}
