import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import MQTT
@testable import MQTTCore

/// The whole client (session, connection state machine, pipeline) on a NIOAsyncTestingChannel:
/// no socket, and the event loop's clock is the test's.
private final class Rig: Sendable {
    let loop = NIOAsyncTestingEventLoop()
    let channel: NIOAsyncTestingChannel
    let client: MQTTClient
    let delivered = Delivered()

    /// With `echo`, each delivered message is answered at once with a retained state, as the
    /// agent answers a command: from inside the delivery, on the loop.
    init(keepAlive: UInt16 = 60, connectTimeout: Duration = .seconds(10), echo: Bool = false) throws {
        channel = NIOAsyncTestingChannel(loop: loop)
        var configuration = MQTTClientConfiguration(host: "broker.test", port: 1883, clientID: "pi")
        configuration.keepAlive = keepAlive
        configuration.connectTimeout = connectTimeout
        configuration.reconnect = .never
        let channel = self.channel
        let connector = Connector { _, _, _, _, initialize in
            initialize(channel).flatMap { channel.connect(to: try! SocketAddress(ipAddress: "127.0.0.1", port: 1883)) }.map { channel }
        }
        client = try MQTTClient(
            configuration: configuration, eventLoopGroup: loop, logger: Logger(label: "test"),
            delivery: MQTTDelivery(
                message: { [delivered] message in
                    delivered.append(message)
                    if echo {
                        delivered.client?.enqueue(MQTTMessage(topic: "gpiobridge/pi/lamp", payload: message.payload, qos: .atLeastOnce, retain: true))
                    }
                }, connection: { _ in }),
            connector: connector)
        delivered.client = client
    }

    /// Bytes the client wrote and no test has read yet: the packets of one turn go out in one write.
    private let unread = Mutex(ByteBuffer())

    /// The next packet the client wrote.
    func sent() async throws -> MQTTPacket {
        var decoder = MQTTPacketDecoder(version: .v5)
        while true {
            if let packet = try unread.withLock({ bytes throws -> MQTTPacket? in try decoder.decode(from: &bytes) }) { return packet }
            var written = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            unread.withLock { $0.writeBuffer(&written) }
        }
    }

    func receive(_ packet: MQTTPacket) async throws {
        var bytes = ByteBuffer()
        try MQTTPacketEncoder(version: .v5).encode(packet, into: &bytes)
        try await channel.writeInbound(bytes)
    }
}

/// What the client delivered, in order.
private final class Delivered: Sendable {
    private let messages = Mutex<[MQTTMessage]>([])
    private let echoing = Mutex<MQTTClient?>(nil)
    var client: MQTTClient? {
        get { echoing.withLock { $0 } }
        set { echoing.withLock { $0 = newValue } }
    }
    func append(_ message: MQTTMessage) { messages.withLock { $0.append(message) } }
    var payloads: [String] { messages.withLock { $0.map(\.payloadString) } }
}

private struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite("The client on a testing channel: no socket, a mock clock")
struct ClientChannelTests {
    @Test("the broker's Server Keep Alive replaces ours [MQTT-3.2.2-21]: PINGREQ after 1 s idle, and no answer within 2 s drops the half-open link")
    func serverKeepAlive() async throws {
        let rig = try Rig(keepAlive: 60)
        let run = Task { try await rig.client.run() }
        guard case .connect(let connect) = try await rig.sent() else { throw TestFailure("no CONNECT") }
        #expect(connect.keepAlive == 60)
        var properties = MQTTProperties()
        properties.serverKeepAlive = 2
        try await rig.receive(.connack(ConnAckPacket(sessionPresent: false, reasonCode: .success, properties: properties)))
        await rig.loop.advanceTime(by: .milliseconds(999))
        #expect(try await rig.channel.readOutbound(as: ByteBuffer.self) == nil, "nothing before half the keep alive")
        await rig.loop.advanceTime(by: .milliseconds(1))
        #expect(try await rig.sent() == .pingreq)
        await rig.loop.advanceTime(by: .seconds(1))
        await #expect(throws: MQTTConnectionError.keepAliveTimedOut(silence: .seconds(2))) { try await run.value }
    }

    @Test("a PINGRESP in time keeps the link; the next PINGREQ comes a second later")
    func pingAnswered() async throws {
        let rig = try Rig(keepAlive: 2)
        let run = Task { try await rig.client.run() }
        _ = try await rig.sent()
        try await rig.receive(.connack(ConnAckPacket(sessionPresent: false, reasonCode: .success)))
        await rig.loop.advanceTime(by: .seconds(1))
        #expect(try await rig.sent() == .pingreq)
        try await rig.receive(.pingresp)
        await rig.loop.advanceTime(by: .seconds(1))
        #expect(try await rig.sent() == .pingreq)
        rig.client.stop()
        #expect(try await rig.sent() == .disconnect(ReasonPacket(reasonCode: .success)))
        try await run.value
    }

    @Test("no CONNACK within the connect timeout ends the attempt with that reason")
    func noConnAck() async throws {
        let rig = try Rig(connectTimeout: .seconds(3))
        let run = Task { try await rig.client.run() }
        _ = try await rig.sent()
        await rig.loop.advanceTime(by: .seconds(3))
        await #expect(throws: MQTTConnectionError.noConnAck(after: .seconds(3))) { try await run.value }
    }

    @Test("a QoS 1 command is delivered and acknowledged; a state published meanwhile goes out before the PUBACK, in one turn")
    func deliveryAndAck() async throws {
        let rig = try Rig(echo: true)
        let run = Task { try await rig.client.run() }
        _ = try await rig.sent()
        try await rig.receive(.connack(ConnAckPacket(sessionPresent: false, reasonCode: .success)))
        try await rig.receive(
            .publish(
                PublishPacket(
                    topic: "gpiobridge/pi/lamp/set", payload: ByteBuffer(string: "ON"), qos: .atLeastOnce,
                    packetID: 7)))
        let first = try await rig.sent()
        guard case .publish(let state) = first else { throw TestFailure("no state: \(first)") }
        #expect(state.topic == "gpiobridge/pi/lamp" && state.payload == ByteBuffer(string: "ON") && state.retain)
        #expect(try await rig.sent() == .puback(PublishAckPacket(packetID: 7)))
        #expect(rig.delivered.payloads == ["ON"])
        rig.client.stop()
        #expect(try await rig.sent() == .disconnect(ReasonPacket(reasonCode: .success)))
        try await run.value
    }

    @Test("an unobserved QoS 0 publish goes out as it is; one made without a connection is dropped, not queued")
    func unobservedPublish() async throws {
        let rig = try Rig()
        let client = rig.client
        func publish(_ payload: String) async throws {
            try await rig.loop.submit {
                client.publishUnobserved(MQTTMessage(topic: "gpiobridge/pi/lamp", payload: payload, qos: .atMostOnce, retain: true))
            }.get()
        }
        try await publish("before")
        let run = Task { try await rig.client.run() }
        _ = try await rig.sent()
        try await rig.receive(.connack(ConnAckPacket(sessionPresent: false, reasonCode: .success)))
        try await publish("after")
        let sent = try await rig.sent()
        guard case .publish(let state) = sent else { throw TestFailure("no state: \(sent)") }
        #expect(state.payload == ByteBuffer(string: "after"), "the one made without a connection was dropped")
        #expect(state.qos == .atMostOnce && state.retain && state.packetID == nil)
        rig.client.stop()
        #expect(try await rig.sent() == .disconnect(ReasonPacket(reasonCode: .success)))
        try await run.value
    }

    @Test("a protocol violation by the broker is answered with DISCONNECT 0x82 and ends the connection")
    func violation() async throws {
        let rig = try Rig()
        let run = Task { try await rig.client.run() }
        _ = try await rig.sent()
        try await rig.receive(.connack(ConnAckPacket(sessionPresent: false, reasonCode: .success)))
        try await rig.receive(.pingreq)
        guard case .disconnect(let disconnect) = try await rig.sent() else { throw TestFailure("no DISCONNECT") }
        #expect(disconnect.reasonCode == .protocolError)
        await #expect(throws: MQTTConnectionError.protocolViolation(.protocolError, detail: "a broker does not send PINGREQ", version: .v5)) {
            try await run.value
        }
    }
}
