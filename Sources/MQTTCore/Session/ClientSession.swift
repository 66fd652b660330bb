import NIOCore

/// Identifies one caller's operation (a publish, subscribe or unsubscribe) so the session can say
/// when it has completed without holding promises itself.
public typealias OperationID = UInt64

/// The client side of an MQTT session [MQTT-4.1]: everything that must survive a reconnect.
///
/// A value type with no I/O and no clock. Each mutating method returns the actions the caller
/// must carry out, in order: packets to send, messages to hand to the application, and
/// operations to complete.
public struct ClientSession: Sendable {
    /// What a caller is told when its operation ends.
    public enum Completion: Sendable, Equatable {
        /// The broker accepted the publish (PUBACK, or PUBCOMP for QoS 2; at once for QoS 0).
        case published
        /// The broker refused the publish with this reason code (PUBACK/PUBREC >= 0x80).
        case publishRefused(ReasonCode, reasonString: String?)
        /// SUBACK or UNSUBACK arrived with one code per filter.
        case acknowledged([ReasonCode])
        /// The operation can't be done now; the string says why.
        case failed(SessionError)
    }

    /// Why the session refused an operation.
    public enum SessionError: Error, Sendable, Equatable, CustomStringConvertible {
        /// QoS 0 needs a live connection; it is never queued.
        case notConnected
        /// The offline queue holds ``ClientSession/maximumQueuedMessages`` already.
        case queueFull(Int)
        /// The broker's Maximum QoS is below what the message asks for [MQTT-3.2.2-11].
        case qosNotSupported(requested: QoS, maximum: QoS)
        /// The broker said Retain Available 0 [MQTT-3.2.2-14].
        case retainNotSupported
        /// The session was closed (client shutdown).
        case sessionClosed

        public var description: String {
            switch self {
            case .notConnected: "not connected (QoS 0 messages are not queued)"
            case .queueFull(let limit): "the offline queue is full (\(limit) messages)"
            case .qosNotSupported(let requested, let maximum): "the broker allows QoS \(maximum) at most, not \(requested)"
            case .retainNotSupported: "the broker does not support retained messages"
            case .sessionClosed: "the client was shut down"
            }
        }
    }

    /// What the caller must do.
    public enum Action: Sendable, Equatable {
        case send(MQTTPacket)
        case deliver(PublishPacket)
        /// A PUBLISH too large to take was acknowledged and dropped: tell the application.
        case reportSkipped(OversizedPublish)
        case complete(OperationID, Completion)
        /// The peer broke the protocol: send DISCONNECT with this code and close.
        case disconnect(ReasonCode, String)
    }

    /// The broker's limits from CONNACK that bind the session.
    public struct ServerLimits: Sendable, Equatable {
        public var receiveMaximum: Int = 65_535
        public var maximumQoS: QoS = .exactlyOnce
        public var retainAvailable = true
        public init() {}
    }

    private enum OutboundState: Sendable {
        case awaitingPubAck
        case awaitingPubRec
        case awaitingPubComp
    }

    private struct Outbound: Sendable {
        var packet: PublishPacket
        var operation: OperationID?
        var state: OutboundState
    }

    private struct Queued: Sendable {
        var packet: PublishPacket
        var operation: OperationID?
    }

    private enum RequestKind: Sendable {
        case subscribe([Subscription], MQTTProperties)
        case unsubscribe([TopicFilter], MQTTProperties)
    }

    private struct Request: Sendable {
        var kind: RequestKind
        var operation: OperationID?
    }

    /// Messages beyond this many waiting for a connection or for send quota are refused.
    public var maximumQueuedMessages: Int
    /// Our Receive Maximum: inbound QoS 2 messages awaiting PUBREL beyond this are a protocol error.
    public let receiveMaximum: Int

    public private(set) var isConnected = false
    private var limits = ServerLimits()
    private var nextPacketID: UInt16 = 1
    /// Outbound QoS 1/2 messages sent and not yet completed, in the order they were first sent.
    private var outbound: [UInt16: Outbound] = [:]
    private var outboundOrder = CircularBuffer<UInt16>()
    /// QoS 1/2 messages waiting for a connection or for the broker's Receive Maximum to allow them.
    private var queue = CircularBuffer<Queued>()
    /// Inbound QoS 2 packet ids delivered and answered with PUBREC, waiting for PUBREL.
    private var inboundQoS2: Set<UInt16> = []
    /// SUBSCRIBE/UNSUBSCRIBE sent (or to be sent on connect), by packet id, in request order.
    private var requests: [UInt16: Request] = [:]
    private var requestOrder: [UInt16] = []
    /// Subscriptions the broker granted, restored when a reconnect finds no session.
    public private(set) var subscriptions: [String: Subscription] = [:]
    private var subscriptionProperties: MQTTProperties = MQTTProperties()

    public init(maximumQueuedMessages: Int = 10_000, receiveMaximum: Int = 65_535) {
        self.maximumQueuedMessages = maximumQueuedMessages
        self.receiveMaximum = receiveMaximum
    }

    /// Number of outbound QoS 1/2 messages sent and awaiting their acknowledgement.
    public var inflightCount: Int { outbound.count }
    /// Number of QoS 1/2 messages waiting to be sent.
    public var queuedCount: Int { queue.count }
    /// Inbound QoS 2 messages delivered and answered with PUBREC, whose PUBREL has not come yet.
    public var pendingInboundQoS2: Int { inboundQoS2.count }

    // MARK: Operations from the application

    /// Publishes `packet` (its packet id and DUP are assigned here).
    public mutating func publish(_ packet: PublishPacket, operation: OperationID?) -> [Action] {
        var packet = packet
        packet.dup = false
        packet.packetID = nil
        if isConnected, let refusal = refusal(for: packet) {
            return operation.map { [.complete($0, .failed(refusal))] } ?? []
        }
        if packet.qos == .atMostOnce {
            guard isConnected else { return operation.map { [.complete($0, .failed(.notConnected))] } ?? [] }
            var actions: [Action] = [.send(.publish(packet))]
            if let operation { actions.append(.complete(operation, .published)) }
            return actions
        }
        guard queuedCount < maximumQueuedMessages else {
            return operation.map { [.complete($0, .failed(.queueFull(maximumQueuedMessages)))] } ?? []
        }
        queue.append(Queued(packet: packet, operation: operation))
        return drainQueue()
    }

    /// Subscribes; sent now if connected, else on the next connection.
    public mutating func subscribe(
        _ subscriptions: [Subscription], properties: MQTTProperties = MQTTProperties(),
        operation: OperationID?
    ) -> [Action] {
        addRequest(Request(kind: .subscribe(subscriptions, properties), operation: operation))
    }

    /// Unsubscribes; sent now if connected, else on the next connection.
    public mutating func unsubscribe(
        _ filters: [TopicFilter], properties: MQTTProperties = MQTTProperties(),
        operation: OperationID?
    ) -> [Action] {
        addRequest(Request(kind: .unsubscribe(filters, properties), operation: operation))
    }

    // MARK: Connection events

    /// A CONNACK accepted the connection. Resends what the session holds [MQTT-4.4.0-1] when the
    /// broker kept the session, or rebuilds it when it did not [MQTT-3.2.2-4, -5].
    public mutating func connected(sessionPresent: Bool, limits: ServerLimits) -> [Action] {
        isConnected = true
        self.limits = limits
        var actions: [Action] = []
        if sessionPresent {
            for id in outboundOrder {
                guard let entry = outbound[id] else { continue }
                switch entry.state {
                case .awaitingPubAck, .awaitingPubRec:
                    var packet = entry.packet
                    packet.dup = true
                    actions.append(.send(.publish(packet)))
                case .awaitingPubComp:
                    actions.append(.send(.pubrel(PublishAckPacket(packetID: id))))
                }
            }
        } else {
            // The broker has no session: its state for our ids is gone. Every unconfirmed message is
            // sent again as a new one, even after PUBREC, because a broker that lost the session may
            // have lost the message too: at least once beats silently never [MQTT-3.2.2-5].
            inboundQoS2.removeAll()
            let resend = outboundOrder.compactMap { outbound[$0] }.map { Queued(packet: $0.packet, operation: $0.operation) }
            outbound.removeAll()
            outboundOrder.removeAll()
            for queued in resend.reversed() { queue.prepend(queued) }
            if !subscriptions.isEmpty {
                let restore = subscriptions.values.sorted { $0.filter.rawValue < $1.filter.rawValue }
                // Restoring is internal: no caller waits for it, so it has no operation id.
                if let id = allocatePacketID() {
                    requests[id] = Request(kind: .subscribe(restore, subscriptionProperties), operation: nil)
                    requestOrder.insert(id, at: 0)
                }
            }
        }
        for id in requestOrder {
            if let request = requests[id] { actions.append(.send(packet(for: request, id: id))) }
        }
        actions += failQueuedBeyondLimits()
        actions += drainQueue()
        return actions
    }

    /// The connection is gone. Everything unacknowledged stays for the next one.
    public mutating func disconnected() {
        isConnected = false
    }

    /// The client is shutting down for good: every waiting operation fails.
    public mutating func close() -> [Action] {
        isConnected = false
        var actions: [Action] = []
        for id in outboundOrder {
            if let operation = outbound[id]?.operation { actions.append(.complete(operation, .failed(.sessionClosed))) }
        }
        for queued in queue {
            if let operation = queued.operation { actions.append(.complete(operation, .failed(.sessionClosed))) }
        }
        for id in requestOrder {
            if let operation = requests[id]?.operation { actions.append(.complete(operation, .failed(.sessionClosed))) }
        }
        outbound.removeAll()
        outboundOrder.removeAll()
        queue.removeAll()
        requests.removeAll()
        requestOrder.removeAll()
        return actions
    }

    // MARK: Packets from the broker

    /// Handles a packet that belongs to the session (PUBLISH and the acknowledgements).
    /// Topic aliases must already be resolved.
    public mutating func receive(_ packet: MQTTPacket) -> [Action] {
        switch packet {
        case .publish(let publish): return receivePublish(publish)
        case .puback(let ack): return receivePubAck(ack)
        case .pubrec(let ack): return receivePubRec(ack)
        case .pubcomp(let ack): return receivePubComp(ack)
        case .pubrel(let ack):
            let known = inboundQoS2.remove(ack.packetID) != nil
            return [
                .send(
                    .pubcomp(
                        PublishAckPacket(
                            packetID: ack.packetID,
                            reasonCode: known ? .success : .packetIdentifierNotFound)))
            ]
        case .suback(let ack): return receiveRequestAck(ack, isSubscribe: true)
        case .unsuback(let ack): return receiveRequestAck(ack, isSubscribe: false)
        default:
            return [.disconnect(.protocolError, "unexpected \(packet.type) from the broker")]
        }
    }

    /// A PUBLISH over our maximum packet size was skipped. It is acknowledged, so that the broker
    /// does not send it again at every reconnect (a 3.1.1 session would, for ever), and reported
    /// once. `refusal` is the reason code for a 5.0 acknowledgement; nil under 3.1.1, which has
    /// none. A refused QoS 2 exchange ends at PUBREC [MQTT-4.3.3]; an accepted one awaits PUBREL.
    public mutating func skipped(_ publish: OversizedPublish, refusal: ReasonCode?) -> [Action] {
        switch publish.qos {
        case .atMostOnce:
            return [.reportSkipped(publish)]
        case .atLeastOnce:
            let id = publish.packetID!
            return [.reportSkipped(publish), .send(.puback(PublishAckPacket(packetID: id, reasonCode: refusal ?? .success)))]
        case .exactlyOnce:
            let id = publish.packetID!
            let rec = Action.send(.pubrec(PublishAckPacket(packetID: id, reasonCode: refusal ?? .success)))
            if inboundQoS2.contains(id) { return [rec] }
            if refusal == nil {
                guard inboundQoS2.count < receiveMaximum else {
                    return [
                        .disconnect(
                            .receiveMaximumExceeded,
                            "the broker sent more than \(receiveMaximum) unacknowledged QoS 2 messages")
                    ]
                }
                inboundQoS2.insert(id)
            }
            return [.reportSkipped(publish), rec]
        }
    }

    private mutating func receivePublish(_ publish: PublishPacket) -> [Action] {
        switch publish.qos {
        case .atMostOnce:
            return [.deliver(publish)]
        case .atLeastOnce:
            return [.deliver(publish), .send(.puback(PublishAckPacket(packetID: publish.packetID!)))]
        case .exactlyOnce:
            let id = publish.packetID!
            let rec = Action.send(.pubrec(PublishAckPacket(packetID: id)))
            // Delivered once on first receipt; a resend with the same id before PUBREL is not
            // delivered again [MQTT-4.3.3].
            if inboundQoS2.contains(id) { return [rec] }
            guard inboundQoS2.count < receiveMaximum else {
                return [
                    .disconnect(
                        .receiveMaximumExceeded,
                        "the broker sent more than \(receiveMaximum) unacknowledged QoS 2 messages")
                ]
            }
            inboundQoS2.insert(id)
            return [.deliver(publish), rec]
        }
    }

    private mutating func receivePubAck(_ ack: PublishAckPacket) -> [Action] {
        guard let entry = outbound[ack.packetID], entry.state == .awaitingPubAck else { return [] }
        removeOutbound(ack.packetID)
        var actions: [Action] = []
        if let operation = entry.operation {
            actions.append(
                .complete(
                    operation,
                    ack.reasonCode.isFailure
                        ? .publishRefused(ack.reasonCode, reasonString: ack.properties.reasonString) : .published))
        }
        return actions + drainQueue()
    }

    private mutating func receivePubRec(_ ack: PublishAckPacket) -> [Action] {
        guard let entry = outbound[ack.packetID] else {
            return [.send(.pubrel(PublishAckPacket(packetID: ack.packetID, reasonCode: .packetIdentifierNotFound)))]
        }
        if ack.reasonCode.isFailure {
            guard entry.state == .awaitingPubRec else { return [] }
            removeOutbound(ack.packetID)
            var actions: [Action] = []
            if let operation = entry.operation {
                actions.append(.complete(operation, .publishRefused(ack.reasonCode, reasonString: ack.properties.reasonString)))
            }
            return actions + drainQueue()
        }
        guard entry.state != .awaitingPubAck else { return [] }
        outbound[ack.packetID]!.state = .awaitingPubComp
        return [.send(.pubrel(PublishAckPacket(packetID: ack.packetID)))]
    }

    private mutating func receivePubComp(_ ack: PublishAckPacket) -> [Action] {
        guard let entry = outbound[ack.packetID], entry.state == .awaitingPubComp else { return [] }
        removeOutbound(ack.packetID)
        var actions: [Action] = []
        if let operation = entry.operation { actions.append(.complete(operation, .published)) }
        return actions + drainQueue()
    }

    private mutating func receiveRequestAck(_ ack: SubscriptionAckPacket, isSubscribe: Bool) -> [Action] {
        guard let request = requests[ack.packetID] else { return [] }
        switch (request.kind, isSubscribe) {
        case (.subscribe(let subs, let properties), true):
            for (index, subscription) in subs.enumerated() {
                // 3.1.1 and 5.0 share codes 0-2 for granted QoS; a SUBACK short of codes counts as refused.
                let code = index < ack.reasonCodes.count ? ack.reasonCodes[index] : .unspecifiedError
                if !code.isFailure { subscriptions[subscription.filter.rawValue] = subscription }
            }
            if !properties.isEmpty { subscriptionProperties = properties }
        case (.unsubscribe(let filters, _), false):
            for filter in filters { subscriptions[filter.rawValue] = nil }
        default:
            return [
                .disconnect(
                    .protocolError,
                    "\(isSubscribe ? "SUBACK" : "UNSUBACK") for a packet id that was not \(isSubscribe ? "a SUBSCRIBE" : "an UNSUBSCRIBE")")
            ]
        }
        requests[ack.packetID] = nil
        requestOrder.removeAll { $0 == ack.packetID }
        return request.operation.map { [.complete($0, .acknowledged(ack.reasonCodes))] } ?? []
    }

    // MARK: Internals

    private func refusal(for packet: PublishPacket) -> SessionError? {
        if packet.qos > limits.maximumQoS { return .qosNotSupported(requested: packet.qos, maximum: limits.maximumQoS) }
        if packet.retain && !limits.retainAvailable { return .retainNotSupported }
        return nil
    }

    private mutating func failQueuedBeyondLimits() -> [Action] {
        var actions: [Action] = []
        var kept = CircularBuffer<Queued>()
        for queued in queue {
            if let refusal = refusal(for: queued.packet) {
                if let operation = queued.operation { actions.append(.complete(operation, .failed(refusal))) }
            } else {
                kept.append(queued)
            }
        }
        queue = kept
        return actions
    }

    /// Sends queued messages while the broker's Receive Maximum allows [MQTT-4.9.0-2].
    private mutating func drainQueue() -> [Action] {
        guard isConnected else { return [] }
        var actions: [Action] = []
        while !queue.isEmpty, outbound.count < limits.receiveMaximum, let id = allocatePacketID() {
            let next = queue.removeFirst()
            var packet = next.packet
            let operation = next.operation
            packet.packetID = id
            outbound[id] = Outbound(
                packet: packet, operation: operation,
                state: packet.qos == .atLeastOnce ? .awaitingPubAck : .awaitingPubRec)
            outboundOrder.append(id)
            actions.append(.send(.publish(packet)))
        }
        return actions
    }

    private mutating func addRequest(_ request: Request) -> [Action] {
        guard let id = allocatePacketID() else {
            return request.operation.map { [.complete($0, .failed(.queueFull(65_535)))] } ?? []
        }
        requests[id] = request
        requestOrder.append(id)
        return isConnected ? [.send(packet(for: request, id: id))] : []
    }

    private func packet(for request: Request, id: UInt16) -> MQTTPacket {
        switch request.kind {
        case .subscribe(let subscriptions, let properties):
            .subscribe(SubscribePacket(packetID: id, subscriptions: subscriptions, properties: properties))
        case .unsubscribe(let filters, let properties):
            .unsubscribe(UnsubscribePacket(packetID: id, filters: filters, properties: properties))
        }
    }

    private mutating func removeOutbound(_ id: UInt16) {
        outbound[id] = nil
        if outboundOrder.first == id {
            outboundOrder.removeFirst()
        } else {
            outboundOrder.removeAll { $0 == id }
        }
    }

    /// The next packet id not in use by an outbound message or request [MQTT-2.2.1-3].
    private mutating func allocatePacketID() -> UInt16? {
        guard outbound.count + requests.count < Int(UInt16.max) else { return nil }
        while true {
            let id = nextPacketID
            nextPacketID = nextPacketID == UInt16.max ? 1 : nextPacketID + 1
            if outbound[id] == nil && requests[id] == nil { return id }
        }
    }
}
