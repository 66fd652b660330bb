import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An MQTT 5.0 / 3.1.1 client that keeps one connection to a broker alive.
///
/// It is a `Service`: ``run()`` connects, reconnects with backoff when the link drops, and returns
/// after a graceful shutdown (DISCONNECT sent). Operations may be called before or between
/// connections: QoS 1/2 messages and subscriptions wait for the next connection; QoS 0 messages
/// fail with ``ClientSession/SessionError/notConnected``.
///
/// ```swift
/// let client = try MQTTClient(configuration: config, logger: logger)
/// try await withThrowingTaskGroup(of: Void.self) { group in
///     group.addTask { try await client.run() }
///     _ = try await client.subscribe(to: "test")
///     for await message in client.messages { print(message.topic, message.payloadString) }
/// }
/// ```
public final class MQTTClient: Service, Sendable {
    public let configuration: MQTTClientConfiguration
    /// Every message the broker delivers, in order. A single consumer should iterate it. Empty
    /// when the client was made with an ``MQTTDelivery``.
    public let messages: AsyncStream<MQTTMessage>
    private let core: NIOLoopBoundBox<ClientCore>
    private let logger: Logger
    /// The loop the connection and its session live on; an ``MQTTDelivery`` is called there.
    public let eventLoop: any EventLoop

    /// Creates the client and its TLS context; a missing or bad TLS file fails here, not later.
    /// With `delivery`, messages and connection changes go to it on the client's event loop
    /// rather than to ``messages`` and ``connectionStates()``' streams.
    public convenience init(
        configuration: MQTTClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger, delivery: MQTTDelivery? = nil
    ) throws {
        try self.init(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger, delivery: delivery, connector: .tcp)
    }

    /// The client with its own way to a channel (a test's, without sockets).
    init(
        configuration: MQTTClientConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger, delivery: MQTTDelivery?,
        connector: Connector
    ) throws {
        guard !configuration.host.isEmpty else { throw MQTTConfigurationError("the broker host is empty") }
        guard (1...65_535).contains(configuration.port) else {
            throw MQTTConfigurationError("port \(configuration.port) is not in 1...65535")
        }
        self.configuration = configuration
        let sslContext = try configuration.tls.map(Self.makeSSLContext)
        let (stream, continuation) = AsyncStream.makeStream(of: MQTTMessage.self)
        self.messages = stream
        self.eventLoop = eventLoopGroup.next()
        var logger = logger
        logger[metadataKey: "broker"] = "\(configuration.host):\(configuration.port)"
        if delivery != nil { continuation.finish() }
        self.logger = logger
        self.core = .makeBoxSendingValue(
            ClientCore(
                configuration: configuration, sslContext: sslContext, eventLoop: eventLoop,
                logger: logger, messages: continuation, delivery: delivery, connector: connector),
            eventLoop: eventLoop)
    }

    /// Connects and stays connected until graceful shutdown, ``stop()`` or cancellation.
    ///
    /// With ``MQTTReconnectPolicy/never`` it throws the first ``MQTTConnectionError``; otherwise it
    /// logs one line per failure and retries with backoff.
    public func run() async throws {
        defer { eventLoop.execute { [core] in core.value.finish() } }
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await connectionLoop()
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    private func connectionLoop() async throws {
        var schedule: ReconnectSchedule?
        if case .exponentialBackoff(let initial, let maximum) = configuration.reconnect {
            schedule = ReconnectSchedule(initial: initial, maximum: maximum)
        }
        var random = SystemRandomNumberGenerator()
        var takeovers = TakeoverDetector()
        let core = self.core
        while !(try await eventLoop.submit { core.value.isStopping }.get()) {
            let failure: MQTTConnectionError
            let delay: Duration
            do {
                let ended = try await eventLoop.flatSubmit { core.value.establish() }.get()
                schedule?.connected()
                let connectedAt = ContinuousClock.now
                if let closes = takeovers.connectionAttempt(accepted: true, at: connectedAt) {
                    logger.warning(
                        "the broker closed this connection \(closes) times within \(TakeoverDetector.window.formattedSeconds) and accepted the next one at once each time: another client is probably using the client id \(configuration.clientID), and each takes the other's session over (give each its own id)"
                    )
                }
                let reason = try await ended.get()
                if try await eventLoop.submit({ core.value.isStopping }).get() { return }
                if case .closedByBroker = reason { takeovers.brokerClosedConnection(at: .now) }
                logger.warning("connection lost: \(reason)")
                failure = reason
                delay = schedule?.delayAfterLosing(connectionThatLasted: ContinuousClock.now - connectedAt, using: &random) ?? .zero
            } catch let error as MQTTConnectionError {
                if try await eventLoop.submit({ core.value.isStopping }).get() { return }
                if schedule != nil {
                    logger.error("cannot connect to \(configuration.host):\(configuration.port): \(error)")
                }
                failure = error
                _ = takeovers.connectionAttempt(accepted: false, at: .now)
                delay = schedule?.delayAfterFailing(refused: error.isRefusal, using: &random) ?? .zero
            }
            guard schedule != nil else { throw failure }
            logger.info(delay == .zero ? "reconnecting now" : "reconnecting in \(delay.formattedSeconds)")
            try await eventLoop.flatSubmit { core.value.waitBeforeReconnect(delay, after: failure) }.get()
        }
    }

    /// Stops gracefully and makes ``run()`` return. By default it sends DISCONNECT 0x00, so the
    /// broker discards the will [MQTT-3.1.2-10]; with `sendingWill` it asks the broker to publish
    /// the will (DISCONNECT 0x04 in 5.0, a close without DISCONNECT in 3.1.1).
    public func stop(sendingWill: Bool = false) {
        eventLoop.execute { [core] in _ = core.value.stop(sendingWill: sendingWill) }
    }

    /// Publishes a message. Returns when it is handed to the socket (QoS 0), acknowledged with
    /// PUBACK (QoS 1) or completed with PUBCOMP (QoS 2); a message survives reconnects meanwhile.
    public func publish(_ message: MQTTMessage) async throws {
        guard TopicName.isValid(message.topic) else { throw MQTTClientError.invalidTopicName(message.topic) }
        try await eventLoop.flatSubmit { [core] in core.value.publish(message) }.get()
    }

    /// Hands a message to the session and returns at once, without waiting for the broker:
    /// messages keep the order of these calls, and QoS 1/2 messages survive reconnects (up to
    /// ``MQTTClientConfiguration/maximumQueuedMessages``). A failure, such as a QoS 0 message
    /// while disconnected, is logged and the message is dropped.
    public func enqueue(_ message: MQTTMessage) {
        guard TopicName.isValid(message.topic) else {
            logger.error("not publishing to \"\(message.topic)\": not a valid topic name")
            return
        }
        onLoop { [core, logger] in
            core.value.publish(message).whenFailure { error in
                logger.warning("a message to \(message.topic) was not sent: \(error)")
            }
        }
    }

    /// Hands a message to the session that nobody waits for, such as a QoS 0 state its publisher
    /// states again after reconnecting: nothing is made to report how it went, and a QoS 0
    /// message without a connection is dropped without a log line. Only on ``eventLoop``.
    public func publishUnobserved(_ message: MQTTMessage) {
        eventLoop.preconditionInEventLoop()
        guard TopicName.isValid(message.topic) else {
            logger.error("not publishing to \"\(message.topic)\": not a valid topic name")
            return
        }
        core.value.publishUnobserved(message)
    }

    /// Like ``publish(_:)``, but the message is handed to the session before this returns (at
    /// once when called on ``eventLoop``); the future completes as ``publish(_:)`` returns.
    public func requestPublication(_ message: MQTTMessage) -> EventLoopFuture<Void> {
        guard TopicName.isValid(message.topic) else { return eventLoop.makeFailedFuture(MQTTClientError.invalidTopicName(message.topic)) }
        if eventLoop.inEventLoop { return core.value.publish(message) }
        return eventLoop.flatSubmit { [core] in core.value.publish(message) }
    }

    /// Stops reading from the broker until ``resumeReading()``, for a consumer whose queue of
    /// delivered messages is full: TCP holds the broker back, which queues within its own limits
    /// (Mosquitto: `max_queued_messages`). Outgoing packets still leave, and a reconnect keeps
    /// the pause once its CONNACK is read. Only on ``eventLoop``.
    public func pauseReading() {
        core.value.setReadingPaused(true)
    }

    /// Reads from the broker again after ``pauseReading()``. Only on ``eventLoop``.
    public func resumeReading() {
        core.value.setReadingPaused(false)
    }

    /// The connection's state now. Only on ``eventLoop``: with an ``MQTTDelivery``, every later
    /// change follows in order.
    public var connectionState: MQTTConnectionState {
        eventLoop.preconditionInEventLoop()
        return core.value.state
    }

    /// Runs `body` now when on the client's loop (keeping the caller's order), else on the loop.
    private func onLoop(_ body: @escaping @Sendable () -> Void) {
        if eventLoop.inEventLoop { body() } else { eventLoop.execute(body) }
    }

    /// Publishes `payload` to `topic`.
    public func publish(to topic: String, payload: String, qos: QoS = .atMostOnce, retain: Bool = false) async throws {
        try await publish(MQTTMessage(topic: topic, payload: payload, qos: qos, retain: retain))
    }

    /// Subscribes and returns the broker's answer, one code per filter (granted QoS, or a failure
    /// code such as 0x87 not authorized). The subscriptions are restored after a reconnect that
    /// finds no session.
    public func subscribe(_ subscriptions: [Subscription], properties: MQTTProperties = MQTTProperties()) async throws
        -> [ReasonCode]
    {
        try await requestSubscription(subscriptions, properties: properties).get()
    }

    /// Like ``subscribe(_:properties:)``, but the request is handed to the session before this
    /// returns: requests made one after another (with ``requestUnsubscription(_:properties:)``)
    /// reach the broker in that order. The future completes with the broker's answer.
    public func requestSubscription(_ subscriptions: [Subscription], properties: MQTTProperties = MQTTProperties())
        -> EventLoopFuture<[ReasonCode]>
    {
        if eventLoop.inEventLoop { return core.value.subscribe(subscriptions, properties: properties) }
        return eventLoop.flatSubmit { [core] in core.value.subscribe(subscriptions, properties: properties) }
    }

    /// Subscribes to one filter at `qos`.
    public func subscribe(to filter: String, qos: QoS = .atLeastOnce) async throws -> ReasonCode {
        guard let topicFilter = TopicFilter(filter) else { throw MQTTClientError.invalidTopicFilter(filter) }
        return try await subscribe([Subscription(topicFilter, qos: qos)]).first ?? .unspecifiedError
    }

    /// Unsubscribes and returns one code per filter (empty under 3.1.1, which has none).
    public func unsubscribe(_ filters: [TopicFilter], properties: MQTTProperties = MQTTProperties()) async throws
        -> [ReasonCode]
    {
        try await requestUnsubscription(filters, properties: properties).get()
    }

    /// Like ``unsubscribe(_:properties:)``, handed to the session before this returns, in order with
    /// ``requestSubscription(_:properties:)``.
    public func requestUnsubscription(_ filters: [TopicFilter], properties: MQTTProperties = MQTTProperties())
        -> EventLoopFuture<[ReasonCode]>
    {
        if eventLoop.inEventLoop { return core.value.unsubscribe(filters, properties: properties) }
        return eventLoop.flatSubmit { [core] in core.value.unsubscribe(filters, properties: properties) }
    }

    /// The connection state now and every change after, until the client stops.
    public func connectionStates() -> AsyncStream<MQTTConnectionState> {
        let (stream, continuation) = AsyncStream.makeStream(of: MQTTConnectionState.self)
        eventLoop.execute { [core] in core.value.addObserver(continuation) }
        return stream
    }

    private static func makeSSLContext(_ options: MQTTTLSOptions) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile = options.caFile {
            try requireReadable(caFile, what: "CA file")
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(caFile)
            } catch {
                throw MQTTConfigurationError("CA file \(caFile) holds no PEM certificate: \(error)")
            }
            guard !certificates.isEmpty else { throw MQTTConfigurationError("CA file \(caFile) holds no PEM certificate") }
            tls.trustRoots = .certificates(certificates)
        }
        switch (options.certificateFile, options.keyFile) {
        case (let certificateFile?, let keyFile?):
            try requireReadable(certificateFile, what: "client certificate")
            try requireReadable(keyFile, what: "client key")
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
            } catch {
                throw MQTTConfigurationError("client certificate \(certificateFile) is not a PEM certificate: \(error)")
            }
            do {
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw MQTTConfigurationError("client key \(keyFile) is not a PEM private key: \(error)")
            }
        case (nil, nil):
            break
        default:
            throw MQTTConfigurationError("a client certificate needs both --cert and --key")
        }
        if options.insecure { tls.certificateVerification = .none }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw MQTTConfigurationError("cannot set up TLS: \(error) (does the key match the certificate?)")
        }
    }

    private static func requireReadable(_ path: String, what: String) throws {
        guard access(path, R_OK) == 0 else {
            throw MQTTConfigurationError("\(what) \(path): \(String(cString: strerror(errno)))")
        }
    }
}

extension Duration {
    /// Seconds for people: "2 s", "0.29 s", "1.5 s", "45 s" (to the hundredth, trailing zeros dropped).
    var formattedSeconds: String {
        let hundredths = components.seconds * 100 + (components.attoseconds + 5_000_000_000_000_000) / 10_000_000_000_000_000
        let whole = hundredths / 100
        let fraction = hundredths % 100
        if fraction == 0 { return "\(whole) s" }
        if fraction % 10 == 0 { return "\(whole).\(fraction / 10) s" }
        return "\(whole).\(fraction < 10 ? "0" : "")\(fraction) s"
    }
}
