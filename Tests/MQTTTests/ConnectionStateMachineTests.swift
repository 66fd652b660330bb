import NIOCore
import Testing

@testable import MQTT
@testable import MQTTCore

private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
private func at(_ milliseconds: Int64) -> NIODeadline { start + .milliseconds(milliseconds) }

private func machine(
    _ version: MQTTVersion = .v5, cleanStart: Bool = true, keepAlive: UInt16 = 60,
    useTopicAliases: Bool = true
) -> ConnectionStateMachine {
    let connect = ConnectPacket(version: version, clientID: "pi", cleanStart: cleanStart, keepAlive: keepAlive)
    return ConnectionStateMachine(connect: connect, topicAliasMaximum: 10, useTopicAliases: useTopicAliases)
}

/// A machine that sent CONNECT and got `properties` in a successful CONNACK.
private func established(_ version: MQTTVersion = .v5, keepAlive: UInt16 = 60, properties: MQTTProperties = MQTTProperties())
    -> ConnectionStateMachine
{
    var machine = machine(version, keepAlive: keepAlive)
    _ = machine.channelActive(at: at(0))
    _ = machine.received(.connack(ConnAckPacket(sessionPresent: false, reasonCode: .success, properties: properties)), at: at(0))
    return machine
}

private func ended(_ actions: [ConnectionStateMachine.Action]) -> MQTTConnectionError? {
    for case .ended(let reason, _) in actions { return reason }
    return nil
}

private func written(_ actions: [ConnectionStateMachine.Action]) -> [MQTTPacket] {
    actions.compactMap { if case .write(let packet) = $0 { packet } else { nil } }
}

@Suite("The connection state machine: CONNECT to close, on a mock clock")
struct ConnectionStateMachineTests {
    @Test("CONNECT goes out when the socket is up; CONNACK sets the broker's limits and the keep alive in force")
    func handshake() {
        var machine = machine()
        #expect(machine.state == .connecting)
        let connect = machine.channelActive(at: at(0))
        guard case .connect(let packet)? = written(connect).first else {
            Issue.record("no CONNECT: \(connect)")
            return
        }
        #expect(packet.clientID == "pi")
        #expect(connect.last == .flush)
        #expect(machine.state == .awaitingConnAck)
        var properties = MQTTProperties()
        properties.receiveMaximum = 20
        properties.maximumQoS = 1
        properties.serverKeepAlive = 4
        properties.maximumPacketSize = 2048
        let actions = machine.received(.connack(ConnAckPacket(sessionPresent: false, reasonCode: .success, properties: properties)), at: at(5))
        var limits = ClientSession.ServerLimits()
        limits.receiveMaximum = 20
        limits.maximumQoS = .atLeastOnce
        #expect(
            actions == [
                .cancelHandshakeTimer,
                .established(.init(sessionPresent: false, limits: limits, keepAlive: 4, assignedClientID: nil)),
                .scheduleKeepAlive(at(2005)),
            ])
        #expect(machine.state == .established)
        #expect(machine.serverMaximumPacketSize == 2048)
    }

    @Test("a refusal ends the attempt with the broker's reason; no DISCONNECT is sent")
    func refused() {
        var machine = machine()
        _ = machine.channelActive(at: at(0))
        let actions = machine.received(.connack(ConnAckPacket(sessionPresent: false, reasonCode: .notAuthorized)), at: at(1))
        #expect(written(actions).isEmpty)
        #expect(actions.contains(.close))
        #expect(ended(actions) == .refused(.notAuthorized, reasonString: nil, version: .v5))
        #expect(actions.last == .ended(.refused(.notAuthorized, reasonString: nil, version: .v5), wasEstablished: false))
    }

    @Test(
        "session present after a clean start, or a packet before CONNACK, is a violation: DISCONNECT 0x82 under 5.0, a bare close under 3.1.1",
        arguments: [MQTTVersion.v5, .v3_1_1])
    func violationsBeforeEstablishing(version: MQTTVersion) {
        var present = machine(version)
        _ = present.channelActive(at: at(0))
        let actions = present.received(.connack(ConnAckPacket(sessionPresent: true, reasonCode: .success)), at: at(1))
        #expect(written(actions).map(\.type) == (version == .v5 ? [.disconnect] : []))
        guard case .protocolViolation(.protocolError, let detail, version)? = ended(actions) else {
            Issue.record("not a violation: \(actions)")
            return
        }
        #expect(detail.contains("MQTT-3.2.2-4"))

        var early = machine(version)
        _ = early.channelActive(at: at(0))
        let publish = early.received(.publish(PublishPacket(topic: "a", payload: ByteBuffer(), qos: .atMostOnce)), at: at(1))
        #expect(ended(publish) == .protocolViolation(.protocolError, detail: "expected CONNACK, received PUBLISH", version: version))
    }

    @Test("idle: PINGREQ after half the keep alive; no answer within the keep alive ends a half-open connection")
    func keepAlive() {
        var properties = MQTTProperties()
        properties.serverKeepAlive = 2
        var machine = established(properties: properties)
        #expect(machine.keepAliveDue(at: at(1000)) == [.write(.pingreq), .flush, .scheduleKeepAlive(at(2000))])
        let timedOut = machine.keepAliveDue(at: at(2000))
        #expect(ended(timedOut) == .keepAliveTimedOut(silence: .seconds(2)))
        #expect(timedOut.contains(.close))
        #expect(machine.state == .closed)
    }

    @Test("any packet from the broker proves it alive: the PINGREQ waits")
    func trafficDefersPing() {
        var machine = established(keepAlive: 2)
        _ = machine.received(.pingresp, at: at(900))
        _ = machine.outbound(.pingreq, at: at(900))
        #expect(written(machine.keepAliveDue(at: at(1000))).isEmpty)
        #expect(written(machine.keepAliveDue(at: at(1900))) == [.pingreq])
    }

    @Test("inbound topic aliases: set, then used; an unknown one or one over our maximum is a violation")
    func inboundAliases() {
        var machine = established()
        var aliased = PublishPacket(topic: "gpiobridge/pi/lamp/set", payload: ByteBuffer(string: "ON"), qos: .atMostOnce)
        aliased.properties.topicAlias = 3
        var resolved = aliased
        resolved.properties.topicAlias = nil
        #expect(machine.received(.publish(aliased), at: at(1)) == [.receive(.publish(resolved))])
        var short = aliased
        short.topic = ""
        #expect(machine.received(.publish(short), at: at(2)) == [.receive(.publish(resolved))])
        short.properties.topicAlias = 4
        #expect(
            ended(machine.received(.publish(short), at: at(3)))
                == .protocolViolation(
                    .protocolError, detail: "topic alias 4 was never set on this connection", version: .v5))

        var other = established()
        aliased.properties.topicAlias = 11
        #expect(
            ended(other.received(.publish(aliased), at: at(1)))
                == .protocolViolation(
                    .topicAliasInvalid, detail: "topic alias 11 exceeds our maximum of 10", version: .v5))
    }

    @Test("outbound topic aliases: up to the broker's maximum, the topic sent once")
    func outboundAliases() {
        var properties = MQTTProperties()
        properties.topicAliasMaximum = 1
        var machine = established(properties: properties)
        func send(_ topic: String) -> (String, UInt16?) {
            guard
                case .publish(let publish) = machine.outbound(
                    .publish(PublishPacket(topic: topic, payload: ByteBuffer(), qos: .atMostOnce)), at: at(1))
            else { return ("?", nil) }
            return (publish.topic, publish.properties.topicAlias)
        }
        #expect(send("a") == ("a", 1))
        #expect(send("a") == ("", 1))
        #expect(send("b") == ("b", nil))
    }

    @Test("a graceful end: DISCONNECT 0x00, or 0x04 to have the will sent; under 3.1.1 the will needs a bare close; the end comes with the close")
    func disconnect() {
        var plain = established()
        #expect(plain.disconnect(sendingWill: false) == [.write(.disconnect(ReasonPacket(reasonCode: .success))), .flush, .close])
        #expect(plain.state == .closing)
        #expect(plain.channelClosed() == [.cancelHandshakeTimer, .ended(.closedByBroker, wasEstablished: true)])
        var will = established()
        #expect(written(will.disconnect(sendingWill: true)) == [.disconnect(ReasonPacket(reasonCode: .disconnectWithWillMessage))])
        var old = established(.v3_1_1)
        #expect(old.disconnect(sendingWill: true) == [.close])
    }

    @Test("the broker's DISCONNECT ends the connection with its reason; a taken-over session names the client id")
    func brokerDisconnect() {
        var machine = established()
        let actions = machine.received(.disconnect(ReasonPacket(reasonCode: .sessionTakenOver)), at: at(1))
        #expect(actions.first == .log(.warning, "another client with id pi took over the session (two clients must not share one id)"))
        #expect(ended(actions) == .disconnectedByBroker(.sessionTakenOver, reasonString: nil))
    }

    @Test("a malformed packet is the broker's violation; another channel error closes and ends with that reason")
    func channelErrors() {
        var malformed = established()
        let decode = MQTTDecodeError.malformed("remaining length over 4 bytes")
        #expect(
            ended(malformed.caught(decode, classifiedAs: .io("unused")))
                == .protocolViolation(
                    .malformedPacket, detail: "remaining length over 4 bytes", version: .v5))
        var reset = established()
        #expect(reset.caught(TestError(), classifiedAs: .io("connection reset by peer")) == [.close])
        #expect(reset.channelClosed() == [.cancelHandshakeTimer, .ended(.io("connection reset by peer"), wasEstablished: true)])
        #expect(reset.channelClosed().isEmpty, "the end is reported once")
    }

    @Test("no CONNACK in time: the attempt ends; a late CONNACK changes nothing")
    func handshakeTimeout() {
        var machine = machine()
        _ = machine.channelActive(at: at(0))
        #expect(ended(machine.handshakeTimedOut(.noConnAck(after: .seconds(10)))) == .noConnAck(after: .seconds(10)))
        #expect(machine.received(.connack(ConnAckPacket(sessionPresent: false, reasonCode: .success)), at: at(10_001)).isEmpty)
    }
}

private struct TestError: Error {}
