import NIOCore
import NIOPosix
import Testing

@testable import MQTT
@testable import MQTTCore

/// A fake broker on 127.0.0.1 whose every answer the test writes: for the protocol corners a real
/// broker will not produce (malformed packets, odd limits, session present after a restart).
final class ScriptedBroker: Sendable {
    let port: Int
    private let server: any Channel
    private let accepted: Locked<[ScriptedConnection]>
    private let taken = Locked(0)

    static func start() async throws -> ScriptedBroker {
        let accepted = Locked<[ScriptedConnection]>([])
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let connection = ScriptedConnection(channel: channel)
                accepted.withLock { $0.append(connection) }
                do {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(MQTTFrameDecoder(decoder: MQTTPacketDecoder(version: .v5))))
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(connection: connection))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedBroker(server: server, accepted: accepted)
    }

    private init(server: any Channel, accepted: Locked<[ScriptedConnection]>) {
        self.server = server
        self.port = server.localAddress!.port!
        self.accepted = accepted
    }

    /// The next connection the client makes.
    func nextConnection(timeout: Duration = .seconds(10)) async throws -> ScriptedConnection {
        let deadline = ContinuousClock.now + timeout
        while true {
            let index = taken.value
            if let connection = accepted.withLock({ $0.count > index ? $0[index] : nil }) {
                taken.withLock { $0 += 1 }
                return connection
            }
            guard ContinuousClock.now < deadline else { throw HarnessError("no connection within \(timeout)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Accepts the next connection: reads CONNECT and answers with `connack`.
    func accept(_ connack: ConnAckPacket = ConnAckPacket(sessionPresent: false, reasonCode: .success))
        async throws -> (ScriptedConnection, ConnectPacket)
    {
        let connection = try await nextConnection()
        guard case .connect(let connect) = try await connection.receive() else {
            throw HarnessError("the client's first packet was not CONNECT")
        }
        connection.version = connect.version
        try await connection.send(.connack(connack))
        return (connection, connect)
    }

    func close() async {
        try? await server.close()
        for connection in accepted.value { try? await connection.channel.close() }
    }
}

/// One client connection to a ``ScriptedBroker``.
final class ScriptedConnection: Sendable {
    let channel: any Channel
    private let received = Locked<[MQTTPacket]>([])
    private let consumed = Locked(0)
    private let errors = Locked<[any Error]>([])
    private let _version = Locked(MQTTVersion.v5)

    var version: MQTTVersion {
        get { _version.value }
        set { _version.withLock { $0 = newValue } }
    }

    init(channel: any Channel) {
        self.channel = channel
    }

    fileprivate func record(_ packet: MQTTPacket) { received.withLock { $0.append(packet) } }
    fileprivate func record(_ error: any Error) { errors.withLock { $0.append(error) } }

    /// The next packet from the client, in order.
    func receive(timeout: Duration = .seconds(10)) async throws -> MQTTPacket {
        let deadline = ContinuousClock.now + timeout
        while true {
            let index = consumed.value
            if let packet = received.withLock({ $0.count > index ? $0[index] : nil }) {
                consumed.withLock { $0 += 1 }
                return packet
            }
            guard ContinuousClock.now < deadline else {
                throw HarnessError("no packet from the client within \(timeout); errors: \(errors.value)")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Packets received so far and not yet taken with ``receive(timeout:)``.
    var pending: [MQTTPacket] { received.withLock { Array($0[consumed.value...]) } }

    func send(_ packet: MQTTPacket) async throws {
        var buffer = ByteBuffer()
        try MQTTPacketEncoder(version: version).encode(packet, into: &buffer)
        try await channel.writeAndFlush(buffer)
    }

    func sendRaw(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Waits until the client closes the connection.
    func waitForClose(timeout: Duration = .seconds(10)) async throws {
        let channel = self.channel
        try await withTimeout(timeout, "the client to close the connection") {
            try await channel.closeFuture.get()
        }
    }

    func close() async {
        try? await channel.close()
    }
}

private final class RecordingHandler: ChannelInboundHandler {
    typealias InboundIn = MQTTFrame
    let connection: ScriptedConnection

    init(connection: ScriptedConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The scripted broker's limit is the protocol's: nothing is ever skipped.
        if case .packet(let packet) = unwrapInboundIn(data) { connection.record(packet) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.record(error)
    }
}
