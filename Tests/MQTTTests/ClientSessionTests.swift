import NIOCore
import Testing

@testable import MQTT
@testable import MQTTCore

private func message(_ topic: String = "t", qos: QoS, retain: Bool = false) -> PublishPacket {
    PublishPacket(topic: topic, payload: ByteBuffer(string: "p"), qos: qos, retain: retain)
}

private func sentPackets(_ actions: [ClientSession.Action]) -> [MQTTPacket] {
    actions.compactMap { if case .send(let packet) = $0 { packet } else { nil } }
}

private func sentPublishes(_ actions: [ClientSession.Action]) -> [PublishPacket] {
    sentPackets(actions).compactMap { if case .publish(let publish) = $0 { publish } else { nil } }
}

private func connectedSession(receiveMaximum: Int = 65_535, maximumQoS: QoS = .exactlyOnce) -> ClientSession {
    var session = ClientSession()
    var limits = ClientSession.ServerLimits()
    limits.receiveMaximum = receiveMaximum
    limits.maximumQoS = maximumQoS
    _ = session.connected(sessionPresent: false, limits: limits)
    return session
}

@Suite("Client session state machine")
struct ClientSessionTests {
    @Test("QoS 0 carries no packet id and completes at once; QoS 1 completes at PUBACK")
    func qos0AndQoS1() {
        var session = connectedSession()
        let qos0 = session.publish(message(qos: .atMostOnce), operation: 1)
        #expect(sentPublishes(qos0).first?.packetID == nil)
        #expect(qos0.contains(.complete(1, .published)))

        let qos1 = session.publish(message(qos: .atLeastOnce), operation: 2)
        let id = sentPublishes(qos1).first?.packetID
        #expect(id == 1)
        #expect(!qos1.contains(.complete(2, .published)))
        #expect(session.receive(.puback(PublishAckPacket(packetID: 1))) == [.complete(2, .published)])
        #expect(session.inflightCount == 0)
    }

    @Test("QoS 2: PUBREC is answered with PUBREL, PUBCOMP completes")
    func qos2() {
        var session = connectedSession()
        _ = session.publish(message(qos: .exactlyOnce), operation: 7)
        #expect(session.receive(.pubrec(PublishAckPacket(packetID: 1))) == [.send(.pubrel(PublishAckPacket(packetID: 1)))])
        // A PUBACK for a QoS 2 message is ignored.
        #expect(session.receive(.puback(PublishAckPacket(packetID: 1))) == [])
        #expect(session.receive(.pubcomp(PublishAckPacket(packetID: 1))) == [.complete(7, .published)])
    }

    @Test("a failure code in PUBACK or PUBREC refuses the publish")
    func refused() {
        var session = connectedSession()
        _ = session.publish(message(qos: .atLeastOnce), operation: 1)
        _ = session.publish(message(qos: .exactlyOnce), operation: 2)
        #expect(
            session.receive(.puback(PublishAckPacket(packetID: 1, reasonCode: .notAuthorized)))
                == [.complete(1, .publishRefused(.notAuthorized, reasonString: nil))])
        #expect(
            session.receive(.pubrec(PublishAckPacket(packetID: 2, reasonCode: .quotaExceeded)))
                == [.complete(2, .publishRefused(.quotaExceeded, reasonString: nil))])
        #expect(session.inflightCount == 0)
    }

    @Test("packet ids are never 0 and never one in use, across the wrap [MQTT-2.2.1-3]")
    func packetIDsSkipInUse() {
        var session = connectedSession()
        var ids: Set<UInt16> = []
        for operation in 1...65_535 {
            for publish in sentPublishes(session.publish(message(qos: .atLeastOnce), operation: OperationID(operation))) {
                ids.insert(publish.packetID!)
            }
        }
        #expect(ids.count == 65_535)
        #expect(!ids.contains(0))
        // Every id is taken: the next message waits instead of reusing one.
        #expect(sentPublishes(session.publish(message(qos: .atLeastOnce), operation: 70_000)).isEmpty)
        // Freeing id 500 lets the waiting message go out with exactly that id.
        let actions = session.receive(.puback(PublishAckPacket(packetID: 500)))
        #expect(sentPublishes(actions).map(\.packetID) == [500])
        // A subscribe now finds no free id and fails instead of reusing one.
        #expect(
            session.subscribe([Subscription(TopicFilter("a")!)], operation: 70_001)
                == [.complete(70_001, .failed(.queueFull(65_535)))])
    }

    @Test("never more QoS 1/2 messages in flight than the broker's Receive Maximum [MQTT-4.9.0-2]")
    func receiveMaximum() {
        var session = connectedSession(receiveMaximum: 2)
        var sent: [PublishPacket] = []
        for operation in 1...5 {
            sent += sentPublishes(session.publish(message(qos: .atLeastOnce), operation: OperationID(operation)))
        }
        #expect(sent.count == 2)
        #expect(session.queuedCount == 3)
        let afterAck = session.receive(.puback(PublishAckPacket(packetID: sent[0].packetID!)))
        #expect(sentPublishes(afterAck).count == 1)
        #expect(session.inflightCount == 2)
    }

    @Test("reconnect with session present resends PUBLISH with DUP and original ids, and PUBREL, in order [MQTT-4.4.0-1]")
    func redeliveryWithSession() {
        var session = connectedSession()
        _ = session.publish(message("a", qos: .atLeastOnce), operation: 1)  // id 1
        _ = session.publish(message("b", qos: .exactlyOnce), operation: 2)  // id 2
        _ = session.publish(message("c", qos: .exactlyOnce), operation: 3)  // id 3
        _ = session.receive(.pubrec(PublishAckPacket(packetID: 2)))  // id 2 now awaits PUBCOMP
        session.disconnected()
        // Nothing is sent while disconnected, and nothing is resent at any other time.
        #expect(sentPackets(session.publish(message("d", qos: .atLeastOnce), operation: 4)).isEmpty)

        let actions = session.connected(sessionPresent: true, limits: .init())
        let packets = sentPackets(actions)
        var expectedA = message("a", qos: .atLeastOnce)
        expectedA.packetID = 1
        expectedA.dup = true
        var expectedC = message("c", qos: .exactlyOnce)
        expectedC.packetID = 3
        expectedC.dup = true
        var expectedD = message("d", qos: .atLeastOnce)
        expectedD.packetID = 4
        #expect(packets == [.publish(expectedA), .pubrel(PublishAckPacket(packetID: 2)), .publish(expectedC), .publish(expectedD)])
    }

    @Test("reconnect without session discards session state, resends every unconfirmed message as new and resubscribes [MQTT-3.2.2-5]")
    func noSessionOnReconnect() {
        var session = connectedSession()
        let filter = TopicFilter("cmd/#")!
        _ = session.subscribe([Subscription(filter, qos: .atLeastOnce)], operation: 1)  // id 1
        #expect(
            session.receive(.suback(SubscriptionAckPacket(packetID: 1, reasonCodes: [.grantedQoS1])))
                == [.complete(1, .acknowledged([.grantedQoS1]))])
        _ = session.publish(message("a", qos: .atLeastOnce), operation: 2)  // id 2
        _ = session.publish(message("b", qos: .exactlyOnce), operation: 3)  // id 3
        _ = session.receive(.pubrec(PublishAckPacket(packetID: 3)))
        // An inbound QoS 2 message awaiting PUBREL.
        let inbound = PublishPacket(topic: "cmd/x", payload: ByteBuffer(), qos: .exactlyOnce, packetID: 9)
        #expect(session.receive(.publish(inbound)).contains(.deliver(inbound)))
        session.disconnected()

        let actions = session.connected(sessionPresent: false, limits: .init())
        // Both unconfirmed messages go again as new ones, even the one the lost session had taken with PUBREC.
        #expect(!actions.contains(.complete(3, .published)))
        let packets = sentPackets(actions)
        guard case .subscribe(let resubscribe) = packets.first else {
            Issue.record("expected SUBSCRIBE first, got \(packets)")
            return
        }
        #expect(resubscribe.subscriptions == [Subscription(filter, qos: .atLeastOnce)])
        let publishes = sentPublishes(actions)
        #expect(publishes.map(\.topic) == ["a", "b"])
        #expect(publishes.allSatisfy { !$0.dup })
        // The old inbound QoS 2 state is gone: id 9 is a new message and is delivered.
        #expect(session.receive(.publish(inbound)).contains(.deliver(inbound)))
    }

    @Test("an inbound QoS 2 message is delivered once until PUBREL, then its id is free again")
    func inboundQoS2() {
        var session = connectedSession()
        let publish = PublishPacket(topic: "t", payload: ByteBuffer(string: "x"), qos: .exactlyOnce, packetID: 5)
        #expect(session.receive(.publish(publish)) == [.deliver(publish), .send(.pubrec(PublishAckPacket(packetID: 5)))])
        var duplicate = publish
        duplicate.dup = true
        #expect(session.receive(.publish(duplicate)) == [.send(.pubrec(PublishAckPacket(packetID: 5)))])
        #expect(session.receive(.pubrel(PublishAckPacket(packetID: 5))) == [.send(.pubcomp(PublishAckPacket(packetID: 5)))])
        #expect(
            session.receive(.pubrel(PublishAckPacket(packetID: 5)))
                == [.send(.pubcomp(PublishAckPacket(packetID: 5, reasonCode: .packetIdentifierNotFound)))])
        #expect(session.receive(.publish(publish)).first == .deliver(publish))
    }

    @Test("inbound QoS 1 is delivered and acknowledged")
    func inboundQoS1() {
        var session = connectedSession()
        let publish = PublishPacket(topic: "t", payload: ByteBuffer(), qos: .atLeastOnce, packetID: 77)
        #expect(session.receive(.publish(publish)) == [.deliver(publish), .send(.puback(PublishAckPacket(packetID: 77)))])
    }

    @Test("more unacknowledged inbound QoS 2 messages than our Receive Maximum is a protocol error")
    func ourReceiveMaximum() {
        var session = ClientSession(receiveMaximum: 2)
        _ = session.connected(sessionPresent: false, limits: .init())
        for id: UInt16 in 1...2 {
            _ = session.receive(.publish(PublishPacket(topic: "t", payload: ByteBuffer(), qos: .exactlyOnce, packetID: id)))
        }
        let actions = session.receive(.publish(PublishPacket(topic: "t", payload: ByteBuffer(), qos: .exactlyOnce, packetID: 3)))
        guard case .disconnect(let code, _)? = actions.first else {
            Issue.record("expected a disconnect, got \(actions)")
            return
        }
        #expect(code == .receiveMaximumExceeded)
    }

    @Test("QoS 0 is never queued; QoS 1 waits for the connection, up to the queue limit")
    func offline() {
        var session = ClientSession(maximumQueuedMessages: 2)
        #expect(session.publish(message(qos: .atMostOnce), operation: 1) == [.complete(1, .failed(.notConnected))])
        #expect(session.publish(message(qos: .atLeastOnce), operation: 2).isEmpty)
        #expect(session.publish(message(qos: .atLeastOnce), operation: 3).isEmpty)
        #expect(session.publish(message(qos: .atLeastOnce), operation: 4) == [.complete(4, .failed(.queueFull(2)))])
        #expect(sentPublishes(session.connected(sessionPresent: false, limits: .init())).count == 2)
    }

    @Test("the broker's Maximum QoS and Retain Available are respected [MQTT-3.2.2-11, -14]")
    func serverCapabilities() {
        var session = ClientSession()
        _ = session.publish(message(qos: .exactlyOnce), operation: 1)
        var limits = ClientSession.ServerLimits()
        limits.maximumQoS = .atLeastOnce
        limits.retainAvailable = false
        #expect(
            session.connected(sessionPresent: false, limits: limits)
                == [.complete(1, .failed(.qosNotSupported(requested: .exactlyOnce, maximum: .atLeastOnce)))])
        #expect(
            session.publish(message(qos: .atMostOnce, retain: true), operation: 2)
                == [.complete(2, .failed(.retainNotSupported))])
    }

    @Test("close fails every waiting operation")
    func close() {
        var session = connectedSession(receiveMaximum: 1)
        _ = session.publish(message(qos: .atLeastOnce), operation: 1)
        _ = session.publish(message(qos: .atLeastOnce), operation: 2)
        _ = session.subscribe([Subscription(TopicFilter("x")!)], operation: 3)
        let actions = session.close()
        let failed = actions.compactMap { action -> OperationID? in
            if case .complete(let id, .failed(.sessionClosed)) = action { return id }
            return nil
        }
        #expect(Set(failed) == Set<OperationID>([1, 2, 3]))
    }

    @Test("unexpected packets from the broker are protocol errors")
    func unexpected() {
        var session = connectedSession()
        guard case .disconnect(.protocolError, _)? = session.receive(.pingreq).first else {
            Issue.record("PINGREQ from a broker must be refused")
            return
        }
    }
}
