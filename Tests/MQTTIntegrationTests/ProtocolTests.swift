import Logging
import MQTT
import NIOCore
import Testing

private func publishes(_ packets: [MQTTPacket]) -> [PublishPacket] {
    packets.compactMap { if case .publish(let publish) = $0 { publish } else { nil } }
}

/// Runs `client` against `broker` while `body` plays the broker's side.
private func scripted(
    _ configure: (inout MQTTClientConfiguration) -> Void = { _ in }, logger: Logger = testLogger("scripted"),
    _ body: @escaping @Sendable (ScriptedBroker, MQTTClient) async throws -> Void
) async throws {
    let broker = try await ScriptedBroker.start()
    var configuration = clientConfiguration(port: broker.port, "scripted")
    configure(&configuration)
    let client = try MQTTClient(configuration: configuration, logger: logger)
    do {
        try await withRunningClients([client], waitForConnection: false) {
            try await body(broker, client)
        }
    } catch {
        await broker.close()
        throw error
    }
    await broker.close()
}

/// The statements of the specification that clients most often get wrong, each against a
/// scripted broker over real TCP.
@Suite("Protocol corners against a scripted broker")
struct ProtocolTests {
    @Test("a malformed packet from the broker gets DISCONNECT 0x81, then the client reconnects")
    func malformedFromBroker() async throws {
        try await scripted { broker, client in
            let (first, _) = try await broker.accept()
            try await client.waitUntilConnected()
            try await first.sendRaw([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01])  // PUBLISH with QoS 3
            #expect(
                try await first.receive()
                    == .disconnect(
                        ReasonPacket(
                            reasonCode: .malformedPacket,
                            properties: {
                                var properties = MQTTProperties()
                                properties.reasonString = "PUBLISH with QoS 3"
                                return properties
                            }())))
            try await first.waitForClose()
            _ = try await broker.accept()
            try await client.waitUntilConnected()
        }
    }

    @Test(
        "a PUBLISH above our Maximum Packet Size is acknowledged and skipped; the connection stays and the next one is delivered",
        arguments: [QoS.atLeastOnce, .exactlyOnce])
    func oversizePublishFromBroker(qos: QoS) async throws {
        try await scripted({ $0.maximumPacketSize = 1024 }) { broker, client in
            let (connection, connect) = try await broker.accept()
            #expect(connect.properties.maximumPacketSize == 1024)
            try await client.waitUntilConnected()
            let inbox = Inbox(client)
            let big = PublishPacket(topic: "t", payload: ByteBuffer(repeating: 0x41, count: 2000), qos: qos, packetID: 7)
            var encoded = ByteBuffer()
            try MQTTPacketEncoder(version: .v5).encode(.publish(big), into: &encoded)
            try await connection.send(.publish(big))
            let ack = try await connection.receive()
            switch qos {
            case .atLeastOnce: #expect(ack == .puback(PublishAckPacket(packetID: 7, reasonCode: .implementationSpecificError)))
            default: #expect(ack == .pubrec(PublishAckPacket(packetID: 7, reasonCode: .implementationSpecificError)))
            }
            try await connection.send(.publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "small"))))
            let messages = try await inbox.wait(for: 2)
            #expect(messages.first?.skippedPacketSize == encoded.readableBytes, "the application hears of it, with its size")
            #expect(messages.first?.payload.readableBytes == 0)
            #expect(messages.last?.payloadString == "small")
        }
    }

    @Test("a packet other than PUBLISH above our Maximum Packet Size gets DISCONNECT 0x95 [MQTT-3.1.2-24]")
    func oversizeFromBroker() async throws {
        try await scripted({ $0.maximumPacketSize = 16 }) { broker, client in
            let (connection, _) = try await broker.accept()
            try await client.waitUntilConnected()
            _ = client.requestSubscription([Subscription(TopicFilter("t")!)])
            guard case .subscribe(let subscribe) = try await connection.receive() else {
                Issue.record("expected SUBSCRIBE")
                return
            }
            try await connection.send(
                .suback(
                    SubscriptionAckPacket(
                        packetID: subscribe.packetID,
                        reasonCodes: Array(repeating: .success, count: 40))))
            guard case .disconnect(let disconnect) = try await connection.receive() else {
                Issue.record("expected DISCONNECT")
                return
            }
            #expect(disconnect.reasonCode == .packetTooLarge)
            try await connection.waitForClose()
        }
    }

    @Test("CONNACK 0x84 makes the client fall back to MQTT 3.1.1")
    func fallbackOnUnsupportedVersion() async throws {
        try await scripted { broker, client in
            let first = try await broker.nextConnection()
            guard case .connect(let connect5) = try await first.receive() else { throw HarnessError("no CONNECT") }
            #expect(connect5.version == .v5)
            try await first.send(.connack(ConnAckPacket(sessionPresent: false, reasonCode: .unsupportedProtocolVersion)))
            let (_, connect311) = try await broker.accept()
            #expect(connect311.version == .v3_1_1)
            let state = try await client.waitForState("connected") { $0.isConnected }
            guard case .connected(let info) = state else { return }
            #expect(info.version == .v3_1_1)
        }
    }

    @Test("a CONNECT left unanswered, or a socket closed before CONNACK, keeps MQTT 5.0: only the broker's refusal makes the client fall back")
    func noFallbackWithoutRefusal() async throws {
        try await scripted({ $0.connectTimeout = .seconds(3) }) { broker, client in
            let silent = try await broker.nextConnection()
            guard case .connect(let first) = try await silent.receive() else { throw HarnessError("no CONNECT") }
            #expect(first.version == .v5)
            try await silent.waitForClose()  // the client gave up on it
            let closing = try await broker.nextConnection()
            guard case .connect(let second) = try await closing.receive() else { throw HarnessError("no CONNECT") }
            #expect(second.version == .v5)
            await closing.close()
            let (_, third) = try await broker.accept()
            #expect(third.version == .v5)
            let state = try await client.waitForState("connected") { $0.isConnected }
            guard case .connected(let info) = state else { return }
            #expect(info.version == .v5)
        }
    }

    @Test("a SUBACK that never comes, or comes with another packet id, fails the subscribe after the answer timeout")
    func noSubAck() async throws {
        try await scripted({ $0.answerTimeout = .milliseconds(500) }) { broker, client in
            let (connection, _) = try await broker.accept()
            try await client.waitUntilConnected()
            let silent = client.requestSubscription([Subscription(TopicFilter("a")!)])
            guard case .subscribe = try await connection.receive() else { throw HarnessError("no SUBSCRIBE") }
            do {
                _ = try await silent.get()
                Issue.record("the subscribe must fail")
            } catch let error as MQTTClientError {
                #expect(error == .noAnswer("SUBACK", after: .milliseconds(500)))
                #expect("\(error)" == "the broker sent no SUBACK within 0.5 s")
            }
            let mismatched = client.requestSubscription([Subscription(TopicFilter("b")!)])
            guard case .subscribe(let second) = try await connection.receive() else { throw HarnessError("no SUBSCRIBE") }
            try await connection.send(.suback(SubscriptionAckPacket(packetID: second.packetID &+ 100, reasonCodes: [.success])))
            await #expect(throws: MQTTClientError.noAnswer("SUBACK", after: .milliseconds(500))) { _ = try await mismatched.get() }
        }
    }

    @Test("stop() finishes an inbound QoS 2 exchange first: PUBREL is answered with PUBCOMP, then DISCONNECT")
    func stopFinishesQoS2() async throws {
        try await scripted { broker, client in
            let (connection, _) = try await broker.accept()
            try await client.waitUntilConnected()
            let inbox = Inbox(client)
            try await connection.send(.publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "x"), qos: .exactlyOnce, packetID: 3)))
            #expect(try await connection.receive() == .pubrec(PublishAckPacket(packetID: 3)))
            _ = try await inbox.wait(for: 1)
            client.stop()
            try await Task.sleep(for: .milliseconds(200))
            #expect(connection.pending.isEmpty, "no DISCONNECT while the exchange is open")
            try await connection.send(.pubrel(PublishAckPacket(packetID: 3)))
            #expect(try await connection.receive() == .pubcomp(PublishAckPacket(packetID: 3)))
            guard case .disconnect(let disconnect) = try await connection.receive() else {
                Issue.record("expected DISCONNECT after PUBCOMP")
                return
            }
            #expect(disconnect.reasonCode == .success)
        }
    }

    @Test("gpiobridge sub -W counts from the start: a broker that never sends SUBACK ends it with exit 27")
    func subTimeoutFromTheStart() async throws {
        let broker = try await ScriptedBroker.start()
        async let result = run(["sub", "-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "x", "-W", "2"])
        let (connection, _) = try await broker.accept()
        guard case .subscribe = try await connection.receive() else { throw HarnessError("no SUBSCRIBE") }
        let (status, output) = try await result
        #expect(status == 27, "\(output)")
        #expect(output.contains("Timed out"))
        await broker.close()
    }

    @Test("topic aliases: never 0, never above the broker's maximum, not carried to the next connection [MQTT-3.3.2-7..-10]")
    func topicAliases() async throws {
        try await scripted { broker, client in
            var properties = MQTTProperties()
            properties.topicAliasMaximum = 2
            let accepted = ConnAckPacket(sessionPresent: false, reasonCode: .success, properties: properties)
            let (first, _) = try await broker.accept(accepted)
            try await client.waitUntilConnected()
            for topic in ["a", "b", "c", "a", "b", "c"] {
                try await client.publish(to: topic, payload: "x")
            }
            var sent: [PublishPacket] = []
            for _ in 0..<6 { sent += publishes([try await first.receive()]) }
            #expect(sent.map(\.topic) == ["a", "b", "c", "", "", "c"])
            #expect(sent.map(\.properties.topicAlias) == [1, 2, nil, 1, 2, nil])
            await first.close()

            let (second, _) = try await broker.accept(accepted)
            try await client.waitUntilConnected()
            try await client.publish(to: "a", payload: "y")
            let again = publishes([try await second.receive()])
            #expect(again.first?.topic == "a", "a new connection must name the topic again")
            #expect(again.first?.properties.topicAlias == 1)
        }
    }

    @Test("never more QoS 1 messages in flight than the broker's Receive Maximum [MQTT-3.3.4-7]")
    func receiveMaximum() async throws {
        try await scripted { broker, client in
            var properties = MQTTProperties()
            properties.receiveMaximum = 1
            let (connection, _) = try await broker.accept(
                ConnAckPacket(
                    sessionPresent: false, reasonCode: .success,
                    properties: properties))
            try await client.waitUntilConnected()
            let publishing = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<3 {
                        group.addTask { try await client.publish(to: "t", payload: "\(index)", qos: .atLeastOnce) }
                    }
                    try await group.waitForAll()
                }
            }
            for _ in 0..<3 {
                guard case .publish(let publish) = try await connection.receive() else { throw HarnessError("no PUBLISH") }
                try await Task.sleep(for: .milliseconds(100))
                #expect(connection.pending.isEmpty, "a second PUBLISH arrived before the first was acknowledged")
                try await connection.send(.puback(PublishAckPacket(packetID: publish.packetID!)))
            }
            try await publishing.value
        }
    }

    @Test("nothing larger than the broker's Maximum Packet Size is sent [MQTT-3.2.2-15]")
    func serverMaximumPacketSize() async throws {
        try await scripted { broker, client in
            var properties = MQTTProperties()
            properties.maximumPacketSize = 64
            let (connection, _) = try await broker.accept(
                ConnAckPacket(
                    sessionPresent: false, reasonCode: .success,
                    properties: properties))
            try await client.waitUntilConnected()
            await #expect(throws: MQTTClientError.packetTooLarge(size: 108, limit: 64)) {
                try await client.publish(to: "t", payload: String(repeating: "x", count: 100), qos: .atLeastOnce)
            }
            try await client.publish(to: "t", payload: "small")
            #expect(publishes([try await connection.receive()]).first?.payload == ByteBuffer(string: "small"))
        }
    }

    @Test("a DISCONNECT 0x8E (session taken over) is logged as another client with our id")
    func sessionTakenOver() async throws {
        let log = CapturedLog()
        try await scripted(logger: log.logger()) { broker, client in
            let (first, _) = try await broker.accept()
            try await client.waitUntilConnected()
            try await first.send(.disconnect(ReasonPacket(reasonCode: .sessionTakenOver)))
            let id = client.configuration.clientID
            try await eventually("the log line") {
                log.all.contains {
                    $0.level == .warning && $0.message == "another client with id \(id) took over the session (two clients must not share one id)"
                }
            }
        }
    }

    @Test("a DISCONNECT from the broker ends the connection with its reason, and the client reconnects")
    func disconnectFromBroker() async throws {
        try await scripted { broker, client in
            let (first, _) = try await broker.accept()
            try await client.waitUntilConnected()
            let states = client.connectionStates()
            try await first.send(.disconnect(ReasonPacket(reasonCode: .serverShuttingDown)))
            let waiting = try await withTimeout(.seconds(5), "reconnect wait") {
                for await state in states {
                    if case .waitingToReconnect(_, let error) = state { return error }
                }
                throw HarnessError("stream ended")
            }
            guard case .disconnectedByBroker(.serverShuttingDown, _) = waiting else {
                Issue.record("unexpected reason \(waiting)")
                return
            }
            _ = try await broker.accept()
            try await client.waitUntilConnected()
        }
    }

    @Test("a broker that accepts and drops the client at once gets growing reconnect delays, not a tight loop")
    func flappingBackoff() async throws {
        try await scripted { broker, client in
            let states = client.connectionStates()
            let delays = Task {
                var delays: [Duration] = []
                for await state in states {
                    if case .waitingToReconnect(let delay, _) = state { delays.append(delay) }
                    if delays.count == 4 { break }
                }
                return delays
            }
            for _ in 0..<4 {
                let (connection, _) = try await broker.accept()
                await connection.close()
            }
            let seen = try await withTimeout(.seconds(10), "four reconnect delays") { await delays.value }
            // A broker that drops us at once is on the slow track: a wait is never under half its
            // first second, whatever the jitter. A loaded machine may make a connection outlast
            // ReconnectSchedule.stableConnection, which is retried at once (a zero wait); how the
            // track grows is TimingTests' on a mock clock.
            let waits = seen.filter { $0 > .zero }
            #expect(!waits.isEmpty && waits.allSatisfy { $0 >= ReconnectSchedule.refusedBounds.initial / 2 }, "\(seen)")
        }
    }

    @Test("reconnecting to a present session resends PUBLISH with DUP and its id, and PUBREL [MQTT-4.4.0-1]")
    func redelivery() async throws {
        try await scripted({ $0.sessionExpiry = 300 }) { broker, client in
            let (first, connect) = try await broker.accept()
            #expect(connect.cleanStart)
            try await client.waitUntilConnected()
            let qos1 = Task { try await client.publish(to: "t/1", payload: "one", qos: .atLeastOnce) }
            guard case .publish(let original) = try await first.receive() else { throw HarnessError("no PUBLISH") }
            let qos2 = Task { try await client.publish(to: "t/2", payload: "two", qos: .exactlyOnce) }
            guard case .publish(let original2) = try await first.receive() else { throw HarnessError("no PUBLISH") }
            try await first.send(.pubrec(PublishAckPacket(packetID: original2.packetID!)))
            #expect(try await first.receive() == .pubrel(PublishAckPacket(packetID: original2.packetID!)))
            await first.close()

            let (second, reconnect) = try await broker.accept(ConnAckPacket(sessionPresent: true, reasonCode: .success))
            #expect(!reconnect.cleanStart, "a reconnect must ask to resume the session")
            guard case .publish(let resent) = try await second.receive() else { throw HarnessError("no resent PUBLISH") }
            #expect(resent.dup)
            #expect(resent.packetID == original.packetID)
            #expect(resent.topic == "t/1")
            #expect(resent.payload == ByteBuffer(string: "one"))
            #expect(try await second.receive() == .pubrel(PublishAckPacket(packetID: original2.packetID!)))
            try await second.send(.puback(PublishAckPacket(packetID: original.packetID!)))
            try await second.send(.pubcomp(PublishAckPacket(packetID: original2.packetID!)))
            try await qos1.value
            try await qos2.value
        }
    }

    @Test("an inbound topic alias above our maximum gets DISCONNECT 0x94")
    func inboundAliasTooLarge() async throws {
        try await scripted({ $0.topicAliasMaximum = 4 }) { broker, client in
            let (connection, _) = try await broker.accept()
            try await client.waitUntilConnected()
            var properties = MQTTProperties()
            properties.topicAlias = 5
            try await connection.send(.publish(PublishPacket(topic: "t", payload: ByteBuffer(), properties: properties)))
            guard case .disconnect(let disconnect) = try await connection.receive() else {
                Issue.record("expected DISCONNECT")
                return
            }
            #expect(disconnect.reasonCode == .topicAliasInvalid)
        }
    }

    @Test("inbound topic aliases are resolved for the application")
    func inboundAlias() async throws {
        try await scripted { broker, client in
            let inbox = Inbox(client)
            let (connection, _) = try await broker.accept()
            try await client.waitUntilConnected()
            var properties = MQTTProperties()
            properties.topicAlias = 3
            try await connection.send(
                .publish(
                    PublishPacket(
                        topic: "long/topic/name", payload: ByteBuffer(string: "1"),
                        properties: properties)))
            try await connection.send(.publish(PublishPacket(topic: "", payload: ByteBuffer(string: "2"), properties: properties)))
            let messages = try await inbox.wait(for: 2)
            #expect(messages.map(\.topic) == ["long/topic/name", "long/topic/name"])
        }
    }

    @Test("session present after a clean start is a protocol error [MQTT-3.2.2-4]")
    func sessionPresentAfterCleanStart() async throws {
        try await scripted { broker, _ in
            let (connection, _) = try await broker.accept(ConnAckPacket(sessionPresent: true, reasonCode: .success))
            guard case .disconnect(let disconnect) = try await connection.receive() else {
                Issue.record("expected DISCONNECT")
                return
            }
            #expect(disconnect.reasonCode == .protocolError)
        }
    }

    @Test("a failure code in CONNACK ends the connection and names the reason")
    func connAckFailure() async throws {
        let broker = try await ScriptedBroker.start()
        var configuration = clientConfiguration(port: broker.port, "refused", reconnect: .never)
        configuration.version = .v5
        let client = try MQTTClient(configuration: configuration, logger: testLogger("refused"))
        async let run: Void = client.run()
        _ = try await broker.accept(ConnAckPacket(sessionPresent: false, reasonCode: .banned))
        do {
            try await run
            Issue.record("run() must throw")
        } catch MQTTConnectionError.refused(let code, _, _) {
            #expect(code == .banned)
        }
        await broker.close()
    }
}
