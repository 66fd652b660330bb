import Hardware
import JSON
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Profile
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Where a running agent listens for `gpiobridge status`, `reload` and `profile apply`.
public enum ControlSocket {
    /// `$GPIOBRIDGE_RUN_DIR`, else `/run/gpiobridge` when it is ours to use (root, or systemd's
    /// RuntimeDirectory), else `$XDG_RUNTIME_DIR/gpiobridge`, else `/tmp/gpiobridge-<uid>`.
    public static var directory: String {
        if let configured = getenv("GPIOBRIDGE_RUN_DIR") { return String(cString: configured) }
        if getuid() == 0 || access("/run/gpiobridge", W_OK) == 0 { return "/run/gpiobridge" }
        if let runtime = getenv("XDG_RUNTIME_DIR") { return String(cString: runtime) + "/gpiobridge" }
        return "/tmp/gpiobridge-\(getuid())"
    }

    /// The socket of one agent: `agent.sock`, or `<instance>.sock` for `gpiobridge@<instance>`.
    public static func path(instance: String?) -> String {
        directory + "/" + (instance ?? "agent") + ".sock"
    }
}

/// Answers one ``ControlRequest`` per connection on a Unix socket: a line in, a line out. It is a
/// `Service`; the socket file is removed when it stops. Whoever connects is bounded: at most
/// ``maximumConnections`` are served at once (the next ones are told the agent is busy), a request
/// must arrive within ``requestTimeout`` and fit in ``maximumRequestBytes``, so the socket can never
/// take the descriptors the broker connection and the lines need.
public final class ControlServer: Service, Sendable {
    public typealias Handler = @Sendable (ControlRequest) async -> ControlReply

    /// Requests served at once.
    public static let maximumConnections = 16
    /// The longest request line, newline included.
    public static let maximumRequestBytes = 4096
    /// How long a client may take to send its request.
    public static let requestTimeout = TimeAmount.seconds(5)

    public let path: String
    private let handler: Handler
    private let logger: Logger
    private let open = NIOLockedValueBox(0)

    public init(path: String, logger: Logger, handler: @escaping Handler) {
        self.path = path
        self.logger = logger
        self.handler = handler
    }

    public func run() async throws {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty && access(directory, F_OK) != 0 { mkdir(directory, 0o750) }
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        // The service's group may use it (gpiobridge status as a member of group gpiobridge).
        chmod(path, 0o660)
        defer { unlink(path) }
        logger.debug("control socket at \(path)")
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await server.executeThenClose { connections in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in connections {
                            let admitted = open.withLockedValue { open in
                                guard open < Self.maximumConnections else { return false }
                                open += 1
                                return true
                            }
                            group.addTask {
                                if admitted {
                                    await self.serve(connection)
                                    self.open.withLockedValue { $0 -= 1 }
                                } else {
                                    await Self.answer(
                                        connection, .refused("the agent is busy: \(Self.maximumConnections) requests are open; try again"))
                                }
                            }
                        }
                    }
                }
            } onGracefulShutdown: {
                server.channel.close(promise: nil)
            }
        } onCancel: {
            server.channel.close(promise: nil)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        // A client that sends nothing (or too slowly) is closed, not waited for.
        let deadline = connection.channel.eventLoop.scheduleTask(in: Self.requestTimeout) { connection.channel.close(promise: nil) }
        try? await connection.executeThenClose { inbound, outbound in
            var request = ByteBuffer()
            for try await chunk in inbound {
                var chunk = chunk
                request.writeBuffer(&chunk)
                if request.readableBytesView.contains(UInt8(ascii: "\n")) || request.readableBytes > Self.maximumRequestBytes { break }
            }
            deadline.cancel()
            let line = request.readableBytesView.prefix { $0 != UInt8(ascii: "\n") }
            let reply: ControlReply
            if line.count >= Self.maximumRequestBytes {
                reply = .refused("the request is over \(Self.maximumRequestBytes) bytes")
            } else {
                do {
                    reply = await handler(try ControlRequest(json: try JSONValue(parsing: String(decoding: line, as: UTF8.self))))
                } catch let error as ControlProtocolError {
                    reply = .refused("\(error)")
                } catch {
                    reply = .refused("the request is not JSON: \(error)")
                }
            }
            try await outbound.write(ByteBuffer(string: reply.json.serialized + "\n"))
        }
    }

    private static func answer(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, _ reply: ControlReply) async {
        try? await connection.executeThenClose { _, outbound in
            try await outbound.write(ByteBuffer(string: reply.json.serialized + "\n"))
        }
    }
}

/// Sends one request to an agent's control socket and returns its answer.
public enum ControlClient {
    /// Why the agent could not be asked.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// No agent listens there.
        case noAgent(path: String)
        case permissionDenied(path: String)
        case failed(String)

        public var description: String {
            switch self {
            case .noAgent(let path): "no agent is running (nothing listens on \(path))"
            case .permissionDenied(let path): "permission denied on \(path): run as root or as a member of the gpiobridge group"
            case .failed(let message): message
            }
        }
    }

    /// Sends `request` to the agent at `path` and waits for its reply.
    public static func send(_ request: ControlRequest, to path: String) throws(Failure) -> ControlReply {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .failed("cannot create a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw .failed("the socket path \(path) is too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            switch errno {
            case ENOENT, ECONNREFUSED: throw .noAgent(path: path)
            case EACCES, EPERM: throw .permissionDenied(path: path)
            default: throw .failed("cannot reach the agent at \(path): \(String(cString: strerror(errno)))")
            }
        }
        var message = Array((request.json.serialized + "\n").utf8)
        var sent = 0
        while sent < message.count {
            let count = message[sent...].withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { throw .failed("cannot write to the agent: \(String(cString: strerror(errno)))") }
            sent += count
        }
        message = []
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            answer += buffer[..<count]
        }
        do {
            return try ControlReply(json: try JSONValue(parsing: String(decoding: answer, as: UTF8.self)))
        } catch {
            throw .failed("the agent's answer is not understood: \(error)")
        }
    }
}

extension Agent {
    /// Answers control requests. A reload reads the agent's own profile file and nothing else;
    /// `drive` works only on the simulated chip.
    public func controlHandler(simulatedChip: SimulatedChip? = nil) -> ControlServer.Handler {
        { [self] request in
            switch request {
            case .status:
                return .status(await status())
            case .reload:
                let path = await status().profile
                let profile: Profile
                do {
                    profile = try ProfileLoader.load(path: path)
                } catch {
                    return .refused("\(path) is not valid; the agent keeps its profile\n\(error)")
                }
                switch await reload(profile) {
                case .success(let summary): return .reloaded(summary: summary, profile: path)
                case .failure(let error): return .refused("\(error)")
                }
            case .drive(let name, let level):
                guard let chip = simulatedChip else { return .refused("only an agent on the simulated chip (--simulate) takes drive") }
                guard let offset = (0..<chip.info.lineCount).first(where: { (try? chip.lineInfo(offset: $0).name) == name }) else {
                    return .refused("the simulated chip has no line named \(quotedExcerpt(name))")
                }
                chip.drive(offset: offset, level: level)
                return .done
            }
        }
    }
}
