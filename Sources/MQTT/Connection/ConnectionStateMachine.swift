import Logging
import NIOCore

/// One connection's protocol state, from the socket's connect to its close: CONNECT and CONNACK,
/// which packets the broker may send when, topic aliases both ways, keep-alive, protocol
/// violations and how the connection ends. A value type on the caller's clock: its methods take
/// what happened and return what to do; ``ClientCore`` carries that out on the channel. What
/// outlives a connection (packet ids, in-flight messages, subscriptions) is ``ClientSession``'s.
struct ConnectionStateMachine {
    enum State: Equatable {
        /// TCP (and TLS) under way.
        case connecting
        /// CONNECT sent.
        case awaitingConnAck
        case established
        /// DISCONNECT sent or the channel asked to close; the close is awaited.
        case closing
        case closed
    }

    /// Something the client must do, in order.
    enum Action: Equatable {
        /// Write the packet (not flushed).
        case write(MQTTPacket)
        case flush
        case close
        case cancelHandshakeTimer
        /// Evaluate ``keepAliveDue(at:)`` at this deadline.
        case scheduleKeepAlive(NIODeadline)
        /// CONNACK accepted: the session resumes, with the broker's limits.
        case established(Established)
        /// A packet for the session.
        case receive(MQTTPacket)
        /// A PUBLISH over our maximum packet size, for the session to acknowledge (and refuse under 5.0).
        case skipped(OversizedPublish, refusal: ReasonCode?)
        case log(Logger.Level, String)
        /// The connection is over, for `reason`; whether it had been established.
        case ended(MQTTConnectionError, wasEstablished: Bool)
    }

    /// What the CONNACK settled.
    struct Established: Equatable {
        var sessionPresent: Bool
        var limits: ClientSession.ServerLimits
        /// The keep alive in force: the broker's Server Keep Alive, else ours.
        var keepAlive: UInt16
        /// The id the broker assigned, when we sent none.
        var assignedClientID: String?
    }

    let version: MQTTVersion
    private let connect: ConnectPacket
    private let topicAliasMaximum: UInt16
    private let useTopicAliases: Bool
    private(set) var state = State.connecting
    private var endReason: MQTTConnectionError?
    private var keepAlive: KeepAliveMonitor?
    /// The broker's Maximum Packet Size; unlimited until its CONNACK says otherwise.
    private(set) var serverMaximumPacketSize = Int.max
    private var outboundAliasLimit: UInt16 = 0
    private var outboundAliases: [String: UInt16] = [:]
    private var inboundAliases: [UInt16: String] = [:]
    /// Whether CONNACK accepted the connection (a closing one may or may not have been).
    private var wasEstablished = false

    /// - Parameters:
    ///   - connect: the CONNECT to send once the socket is up (the clean-start decision is the client's).
    ///   - topicAliasMaximum: the most inbound aliases we announced.
    ///   - useTopicAliases: whether to use the aliases the broker grants for what we publish.
    init(connect: ConnectPacket, topicAliasMaximum: UInt16, useTopicAliases: Bool) {
        self.version = connect.version
        self.connect = connect
        self.topicAliasMaximum = topicAliasMaximum
        self.useTopicAliases = useTopicAliases
    }

    var isEstablished: Bool { state == .established }

    // MARK: The socket

    /// The socket (and TLS) is up: CONNECT goes out.
    mutating func channelActive(at now: NIODeadline) -> [Action] {
        guard state == .connecting else { return [.close] }
        state = .awaitingConnAck
        return [.write(.connect(connect)), .flush]
    }

    /// The socket could not be made: DNS, TCP or TLS said why.
    mutating func connectFailed(_ reason: MQTTConnectionError) -> [Action] {
        finish(reason)
    }

    /// No CONNACK (or no socket) within the connect timeout.
    mutating func handshakeTimedOut(_ reason: MQTTConnectionError) -> [Action] {
        guard state == .connecting || state == .awaitingConnAck else { return [] }
        return [.close] + finish(reason)
    }

    /// The channel closed, for whatever reason was recorded (else the broker closed it).
    mutating func channelClosed() -> [Action] {
        finish(endReason ?? .closedByBroker)
    }

    /// The channel failed: a malformed packet is the broker's protocol violation; anything else
    /// (TLS, I/O, already classified by the caller) closes the connection for that reason.
    mutating func caught(_ error: any Error, classifiedAs reason: @autoclosure () -> MQTTConnectionError) -> [Action] {
        guard state != .closed else { return [] }
        if let decodeError = error as? MQTTDecodeError { return violation(decodeError.reasonCode, decodeError.detail) }
        endReason = endReason ?? reason()
        state = .closing
        return [.close]
    }

    // MARK: Packets

    /// A packet from the broker.
    mutating func received(_ packet: MQTTPacket, at now: NIODeadline) -> [Action] {
        switch state {
        case .awaitingConnAck:
            guard case .connack(let ack) = packet else { return violation(.protocolError, "expected CONNACK, received \(packet.type)") }
            return connAck(ack, at: now)
        case .established:
            keepAlive?.packetReceived(at: now)
        case .connecting, .closing, .closed:
            return []
        }
        switch packet {
        case .pingresp:
            return []
        case .publish(var publish):
            if let refusal = resolveInboundAlias(&publish) { return refusal }
            return [.receive(.publish(publish))]
        case .puback, .pubrec, .pubrel, .pubcomp, .suback, .unsuback:
            return [.receive(packet)]
        case .disconnect(let disconnect):
            let line =
                disconnect.reasonCode == .sessionTakenOver
                // Two clients with one id knock each other off in turn; say which id, and why.
                ? "another client with id \(connect.clientID) took over the session (two clients must not share one id)"
                : "the broker sent DISCONNECT: \(disconnect.reasonCode)"
            return [.log(.warning, line), .close]
                + finish(.disconnectedByBroker(disconnect.reasonCode, reasonString: disconnect.properties.reasonString))
        case .auth:
            return violation(.protocolError, "enhanced authentication (AUTH) was not requested")
        case .connack, .connect, .subscribe, .unsubscribe, .pingreq:
            return violation(.protocolError, "a broker does not send \(packet.type)")
        }
    }

    /// A PUBLISH over our maximum packet size (`limit`): acknowledged and reported, and the
    /// connection stays.
    mutating func skipped(_ publish: OversizedPublish, limit: Int, at now: NIODeadline) -> [Action] {
        switch state {
        case .awaitingConnAck:
            return violation(.protocolError, "expected CONNACK, received PUBLISH")
        case .established:
            keepAlive?.packetReceived(at: now)
            let topic = publish.topic.isEmpty ? "(a topic alias)" : publish.topic
            return [
                .log(.warning, "skipped a message of \(publish.size) bytes on \(topic): over the maximum packet size of \(limit) bytes"),
                .skipped(publish, refusal: version == .v5 ? .implementationSpecificError : nil),
            ]
        case .connecting, .closing, .closed:
            return []
        }
    }

    /// A packet we send, as it goes on this connection: a topic the broker granted an alias for
    /// goes as the alias. Counts as traffic for keep-alive.
    mutating func outbound(_ packet: MQTTPacket, at now: NIODeadline) -> MQTTPacket {
        keepAlive?.packetSent(at: now)
        guard case .publish(var publish) = packet, outboundAliasLimit > 0 else { return packet }
        // Aliases belong to this connection only: a new connection starts with none [MQTT-3.3.2-10].
        if let alias = outboundAliases[publish.topic] {
            publish.properties.topicAlias = alias
            publish.topic = ""
        } else if outboundAliases.count < Int(outboundAliasLimit) {
            let alias = UInt16(outboundAliases.count + 1)
            outboundAliases[publish.topic] = alias
            publish.properties.topicAlias = alias
        }
        return .publish(publish)
    }

    // MARK: Time

    /// The keep-alive deadline came: PINGREQ, or the end of a half-open connection.
    mutating func keepAliveDue(at now: NIODeadline) -> [Action] {
        guard state == .established, var monitor = keepAlive else { return [] }
        let (action, next) = monitor.evaluate(now: now)
        keepAlive = monitor
        switch action {
        case .sendPing:
            return [.write(.pingreq), .flush, .scheduleKeepAlive(next)]
        case .timedOut(let silence):
            return [
                .log(
                    .warning,
                    "no packet from the broker for \(Duration(silence).formattedSeconds) despite PINGREQ: connection is half-open, dropping it"),
                .close,
            ] + finish(.keepAliveTimedOut(silence: Duration(silence)))
        case nil:
            return [.scheduleKeepAlive(next)]
        }
    }

    // MARK: Ending

    /// A graceful end: DISCONNECT 0x00 makes the broker discard the will; with `sendingWill` it is
    /// 0x04 under 5.0, and under 3.1.1 (which has no such code) the socket is closed without
    /// DISCONNECT, which publishes the will too. The end comes with ``channelClosed()``.
    mutating func disconnect(sendingWill: Bool) -> [Action] {
        guard state == .established else { return state == .closed ? [] : [.close] + finish(.closedByBroker) }
        state = .closing
        endReason = .closedByBroker
        if sendingWill && version == .v3_1_1 { return [.close] }
        return [.write(.disconnect(ReasonPacket(reasonCode: sendingWill ? .disconnectWithWillMessage : .success))), .flush, .close]
    }

    /// Ends the connection now for `reason`, whatever its channel is doing.
    mutating func abandon(_ reason: MQTTConnectionError) -> [Action] {
        guard state != .closed else { return [] }
        return [.close] + finish(reason)
    }

    /// The broker broke the protocol: DISCONNECT with `code` (5.0), then close [MQTT-4.13].
    mutating func violation(_ code: ReasonCode, _ detail: String) -> [Action] {
        // 3.1.1 has no DISCONNECT from a client with a reason: the socket is simply closed.
        var actions: [Action] = [
            .log(
                .error,
                version == .v5
                    ? "protocol violation by the broker: \(detail); disconnecting with \(code)"
                    : "protocol violation by the broker (\(code.name)): \(detail); closing the connection")
        ]
        if version == .v5 {
            var properties = MQTTProperties()
            properties.reasonString = String(detail.utf8.prefix(200)) ?? "protocol error"
            actions += [.write(.disconnect(ReasonPacket(reasonCode: code, properties: properties))), .flush]
        }
        return actions + [.close] + finish(.protocolViolation(code, detail: detail, version: version))
    }

    private mutating func finish(_ reason: MQTTConnectionError) -> [Action] {
        guard state != .closed else { return [] }
        state = .closed
        keepAlive = nil
        return [.cancelHandshakeTimer, .ended(reason, wasEstablished: wasEstablished)]
    }

    // MARK: CONNACK

    private mutating func connAck(_ ack: ConnAckPacket, at now: NIODeadline) -> [Action] {
        if ack.reasonCode.isFailure {
            return [.close] + finish(.refused(ack.reasonCode, reasonString: ack.properties.reasonString, version: version))
        }
        if connect.cleanStart && ack.sessionPresent {
            return violation(.protocolError, "CONNACK says session present after a clean start [MQTT-3.2.2-4]")
        }
        let properties = ack.properties
        var limits = ClientSession.ServerLimits()
        if let receiveMaximum = properties.receiveMaximum { limits.receiveMaximum = Int(receiveMaximum) }
        if let maximumQoS = properties.maximumQoS { limits.maximumQoS = QoS(rawValue: maximumQoS) ?? .exactlyOnce }
        if let retainAvailable = properties.retainAvailable { limits.retainAvailable = retainAvailable == 1 }
        serverMaximumPacketSize = properties.maximumPacketSize.map { Int($0) } ?? .max
        outboundAliasLimit = useTopicAliases ? properties.topicAliasMaximum ?? 0 : 0
        let keepAliveSeconds = properties.serverKeepAlive ?? connect.keepAlive
        state = .established
        wasEstablished = true
        var actions: [Action] = [
            .cancelHandshakeTimer,
            .established(
                Established(
                    sessionPresent: ack.sessionPresent, limits: limits, keepAlive: keepAliveSeconds,
                    assignedClientID: properties.assignedClientIdentifier)),
        ]
        if keepAliveSeconds > 0 {
            keepAlive = KeepAliveMonitor(interval: .seconds(Int64(keepAliveSeconds)), now: now)
            actions.append(.scheduleKeepAlive(now + .milliseconds(Int64(keepAliveSeconds) * 500)))
        }
        return actions
    }

    /// Replaces an inbound alias with its topic; returns the violation when the alias is wrong.
    private mutating func resolveInboundAlias(_ publish: inout PublishPacket) -> [Action]? {
        guard let alias = publish.properties.topicAlias else { return nil }
        guard alias <= topicAliasMaximum else {
            return violation(.topicAliasInvalid, "topic alias \(alias) exceeds our maximum of \(topicAliasMaximum)")
        }
        if publish.topic.isEmpty {
            guard let topic = inboundAliases[alias] else {
                return violation(.protocolError, "topic alias \(alias) was never set on this connection")
            }
            publish.topic = topic
        } else {
            inboundAliases[alias] = publish.topic
        }
        publish.properties.topicAlias = nil
        return nil
    }
}
