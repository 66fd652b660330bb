import NIOCore
import NIOPosix
import NIOSSL

/// One connection: its ``ConnectionStateMachine``, its channel and who waits on it. Created and
/// used on the client's event loop only.
final class Connection: MQTTConnectionHandler.Delegate {
    var machine: ConnectionStateMachine
    var channel: (any Channel)?
    /// Succeeds at CONNACK with the future of the connection's end; fails if it never got there.
    let established: EventLoopPromise<EventLoopFuture<MQTTConnectionError>>
    let ended: EventLoopPromise<MQTTConnectionError>
    var handshakeTimer: Scheduled<Void>?
    var keepAliveTimer: Scheduled<Void>?
    /// The connection's own last write (CONNECT, PINGREQ, DISCONNECT), which a close waits for:
    /// a DISCONNECT must leave before the socket shuts.
    var lastWrite: EventLoopFuture<Void>?
    private weak var core: ClientCore?
    private let encoder: MQTTPacketEncoder
    /// Packets encoded and not yet handed to the channel: those of one turn leave together, as
    /// one buffer and one write system call.
    private var output = ByteBuffer()

    init(core: ClientCore, machine: ConnectionStateMachine, eventLoop: any EventLoop) {
        self.core = core
        self.machine = machine
        self.encoder = MQTTPacketEncoder(version: machine.version)
        self.established = eventLoop.makePromise()
        self.ended = eventLoop.makePromise()
    }

    /// Encodes `packet` behind those waiting to be written. A packet that cannot be encoded ends
    /// the connection, as any channel error does.
    func queue(_ packet: MQTTPacket) {
        guard channel != nil else { return }
        do {
            try encoder.encode(packet, into: &output)
        } catch {
            connection(caught: error)
        }
    }

    /// Hands the encoded packets to the channel (without flushing); the future completes once they
    /// are written, nil when there was nothing to write.
    @discardableResult
    func writeQueued(withPromise: Bool = false) -> EventLoopFuture<Void>? {
        guard let channel, output.readableBytes > 0 else { return nil }
        let promise = withPromise ? channel.eventLoop.makePromise(of: Void.self) : nil
        channel.write(output, promise: promise)
        // The channel holds the bytes until they are written: the next turn encodes into a new
        // buffer, of the same size unless a large packet made this one large.
        if output.capacity > Self.keptCapacity {
            output = channel.allocator.buffer(capacity: 0)
        } else {
            output.clear()
        }
        return promise?.futureResult
    }

    /// Above this, the output buffer is not kept for the next turn.
    static let keptCapacity = 16 * 1024

    func connection(received packet: MQTTPacket) {
        guard let core else { return }
        core.isReading = true
        core.carryOut(machine.received(packet, at: core.eventLoop.now), on: self)
    }

    func connection(skipped publish: OversizedPublish) {
        guard let core else { return }
        core.carryOut(machine.skipped(publish, limit: core.configuration.maximumPacketSize, at: core.eventLoop.now), on: self)
    }

    func connection(caught error: any Error) {
        guard let core else { return }
        let host = core.configuration.tls?.serverName ?? core.configuration.host
        core.carryOut(machine.caught(error, classifiedAs: ErrorClassification.classify(channelError: error, host: host)), on: self)
    }

    func connectionReadComplete() {
        core?.readComplete()
    }

    func connectionClosed() {
        core?.carryOut(machine.channelClosed(), on: self)
    }
}

/// How the client gets a channel: TCP through `ClientBootstrap` normally; a test hands over a
/// `NIOAsyncTestingChannel` instead, so the whole client runs without a socket.
struct Connector: Sendable {
    /// Connects to `host:port` within `timeout`, with `initialize` setting up the pipeline.
    var connect:
        @Sendable (
            _ eventLoop: any EventLoop, _ host: String, _ port: Int, _ timeout: Duration,
            _ initialize: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
        ) -> EventLoopFuture<any Channel>

    static let tcp = Connector { eventLoop, host, port, timeout, initialize in
        ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(timeout))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer(initialize)
            .connect(host: host, port: port)
    }
}

extension ClientCore {
    // MARK: Connecting

    /// Connects once (falling back to 3.1.1 if allowed). The future succeeds at CONNACK with the
    /// future of the connection's end, or fails with why no connection was made.
    func establish() -> EventLoopFuture<EventLoopFuture<MQTTConnectionError>> {
        eventLoop.preconditionInEventLoop()
        // stop() may have run between the run loop's check and this call: do not connect then.
        guard !isStopping else { return eventLoop.makeFailedFuture(MQTTConnectionError.closedByBroker) }
        startAttempt()
        let first = version
        let core = bound
        return attemptConnection(version: first).flatMapError { error in
            let client = core.value
            guard first == .v5, client.configuration.fallbackToV3_1_1, !client.isStopping else {
                return client.eventLoop.makeFailedFuture(error)
            }
            // Only the broker's own word makes us fall back (and stay): a timeout or a closed
            // socket says nothing about the protocol, and must not cost 5.0 for good.
            switch error as? MQTTConnectionError {
            case .refused(.unsupportedProtocolVersion, _, _)?:
                client.logger.notice("the broker does not accept MQTT 5.0 (\(error)); using MQTT 3.1.1 from now on")
                client.useVersion(.v3_1_1)
                return client.attemptConnection(version: .v3_1_1)
            case .noConnAck?:
                client.logger.notice(
                    "no CONNACK to an MQTT 5.0 CONNECT: a broker that speaks only 3.1.1 may ignore it (amqtt does); if so, set protocol: 3.1.1 (-V 311)"
                )
                return client.eventLoop.makeFailedFuture(error)
            default:
                return client.eventLoop.makeFailedFuture(error)
            }
        }.flatMapError { error in
            // BoringSSL says only "verify failed": an expired certificate deserves its own words.
            let client = core.value
            guard case .tls(.untrustedCertificate)? = error as? MQTTConnectionError else { return client.eventLoop.makeFailedFuture(error) }
            let host = client.configuration.host
            let serverName = client.configuration.tls?.serverName ?? (ErrorClassification.isIPAddress(host) ? nil : host)
            return CertificateProbe.dateFailure(
                host: host, port: client.configuration.port, serverName: serverName,
                timeout: client.configuration.connectTimeout, on: client.eventLoop
            )
            .flatMapThrowing { refined in throw refined.map { MQTTConnectionError.tls($0) } ?? error }
        }
    }

    private func attemptConnection(version: MQTTVersion) -> EventLoopFuture<EventLoopFuture<MQTTConnectionError>> {
        let machine = ConnectionStateMachine(
            connect: connectPacket(version: version), topicAliasMaximum: configuration.topicAliasMaximum,
            useTopicAliases: configuration.useTopicAliases)
        let connection = Connection(core: self, machine: machine, eventLoop: eventLoop)
        adopt(connection)
        let host = configuration.host
        let port = configuration.port
        let timeout = configuration.connectTimeout
        let core = bound
        let bound = NIOLoopBound(connection, eventLoop: eventLoop)
        connection.handshakeTimer = eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            let connection = bound.value
            let reason: MQTTConnectionError =
                connection.channel == nil
                ? .connectTimedOut(host: host, port: port, after: timeout) : .noConnAck(after: timeout)
            core.value.carryOut(connection.machine.handshakeTimedOut(reason), on: connection)
        }
        if configuration.tls?.insecure == true {
            logger.warning("TLS certificate and hostname verification are OFF (--insecure): the broker is not authenticated")
        }
        let sslContext = self.sslContext
        let serverName = configuration.tls?.serverName ?? (ErrorClassification.isIPAddress(host) ? nil : host)
        let maximumPacketSize = configuration.maximumPacketSize
        connector.connect(eventLoop, host, port, timeout) { channel in
            do {
                let pipeline = channel.pipeline.syncOperations
                #if os(Linux)
                try pipeline.addHandler(QuickAckHandler())
                #endif
                if let sslContext {
                    try pipeline.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                }
                let decoder = MQTTPacketDecoder(version: version, maximumPacketSize: maximumPacketSize)
                try pipeline.addHandler(MQTTConnectionHandler(decoder: decoder, delegate: bound.value))
                return channel.eventLoop.makeSucceededVoidFuture()
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }.whenComplete { result in
            let connection = bound.value
            switch result {
            case .success(let channel):
                guard connection.machine.state == .connecting else {
                    channel.close(promise: nil)
                    return
                }
                connection.channel = channel
                core.value.carryOut(connection.machine.channelActive(at: channel.eventLoop.now), on: connection)
            case .failure(let error):
                let reason = ErrorClassification.classify(connectError: error, host: host, port: port, timeout: timeout)
                core.value.carryOut(connection.machine.connectFailed(reason), on: connection)
            }
        }
        return connection.established.futureResult
    }

    /// Carries out what a connection's state machine decided, in order.
    func carryOut(_ actions: [ConnectionStateMachine.Action], on connection: Connection) {
        for action in actions {
            switch action {
            case .write(let packet):
                connection.queue(packet)
                connection.lastWrite = connection.writeQueued(withPromise: true) ?? connection.lastWrite
            case .flush:
                connection.writeQueued()
                connection.channel?.flush()
            case .close:
                guard let channel = connection.channel else { continue }
                if let pending = connection.lastWrite {
                    pending.whenComplete { _ in channel.close(promise: nil) }
                } else {
                    channel.close(promise: nil)
                }
            case .cancelHandshakeTimer:
                connection.handshakeTimer?.cancel()
                connection.handshakeTimer = nil
            case .scheduleKeepAlive(let deadline):
                let core = bound
                let bound = NIOLoopBound(connection, eventLoop: eventLoop)
                connection.keepAliveTimer = eventLoop.scheduleTask(deadline: deadline) {
                    let connection = bound.value
                    core.value.carryOut(connection.machine.keepAliveDue(at: core.value.eventLoop.now), on: connection)
                }
            case .established(let established):
                connectionEstablished(established, on: connection)
            case .receive(let packet):
                received(packet, on: connection)
            case .skipped(let publish, let refusal):
                run(session.skipped(publish, refusal: refusal), on: connection)
            case .log(let level, let text):
                logger.log(level: level, "\(text)")
            case .ended(let reason, let wasEstablished):
                connection.keepAliveTimer?.cancel()
                connection.keepAliveTimer = nil
                connectionEnded(connection, reason: reason, wasEstablished: wasEstablished)
                if !wasEstablished { connection.established.fail(reason) }
                connection.ended.succeed(reason)
            }
        }
    }

    /// Encodes the session's next packet as it goes on the wire (a PUBLISH with a topic alias when
    /// granted), to leave with the next flush. A close waits only for the connection's own last
    /// write (its DISCONNECT), which leaves after everything written before it.
    func write(_ packet: MQTTPacket, on connection: Connection) {
        connection.queue(connection.machine.outbound(packet, at: eventLoop.now))
    }
}
