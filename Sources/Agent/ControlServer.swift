import Hardware
import JSON
import Logging
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

/// Answers one JSON request per connection on a Unix socket: a line in, a line out. It is a
/// `Service`; the socket file is removed when it stops.
public final class ControlServer: Service, Sendable {
    public typealias Handler = @Sendable (JSONValue) async -> JSONValue

    public let path: String
    private let handler: Handler
    private let logger: Logger

    public init(path: String, logger: Logger, handler: @escaping Handler) {
        self.path = path
        self.logger = logger
        self.handler = handler
    }

    public func run() async throws {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty && access(directory, F_OK) != 0 { mkdir(directory, 0o750) }
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
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
                            group.addTask { await self.serve(connection) }
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
        try? await connection.executeThenClose { inbound, outbound in
            var request = ByteBuffer()
            for try await chunk in inbound {
                var chunk = chunk
                request.writeBuffer(&chunk)
                if request.readableBytesView.contains(UInt8(ascii: "\n")) || request.readableBytes > 65536 { break }
            }
            let text = String(decoding: request.readableBytesView.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
            let reply: JSONValue
            do {
                reply = await handler(try JSONValue(parsing: text))
            } catch {
                reply = .object(["ok": .bool(false), "error": .string("the request is not JSON: \(error)")])
            }
            try await outbound.write(ByteBuffer(string: reply.serialized + "\n"))
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

    public static func send(_ request: JSONValue, to path: String) throws(Failure) -> JSONValue {
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
        var message = Array((request.serialized + "\n").utf8)
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
            return try JSONValue(parsing: String(decoding: answer, as: UTF8.self))
        } catch {
            throw .failed("the agent's answer is not JSON: \(error)")
        }
    }
}

extension Agent {
    /// Answers control requests: `{"command":"status"}`, `{"command":"reload"}` (the agent's own
    /// profile file, or `"profile": PATH`), and with a simulated chip `{"command":"drive",
    /// "line":"GPIO27","level":false}` (or `null` to let the pull decide), as a button would.
    public func controlHandler(simulatedChip: SimulatedChip? = nil) -> ControlServer.Handler {
        { [self] request in
            switch request["command"] {
            case .string("status"):
                return .object(["ok": .bool(true), "status": await status().json])
            case .string("reload"):
                let path: String
                if case .string(let requested)? = request["profile"] { path = requested } else { path = await status().profile }
                let profile: Profile
                do {
                    profile = try ProfileLoader.load(path: path)
                } catch {
                    return .object(["ok": .bool(false), "error": .string("\(path) is not valid; the agent keeps its profile\n\(error)")])
                }
                switch await reload(profile) {
                case .success(let summary): return .object(["ok": .bool(true), "summary": .string(summary), "profile": .string(path)])
                case .failure(let error): return .object(["ok": .bool(false), "error": .string("\(error)")])
                }
            case .string("drive"):
                guard let chip = simulatedChip else {
                    return .object(["ok": .bool(false), "error": .string("only an agent on the simulated chip (--simulate) takes drive")])
                }
                guard case .string(let name)? = request["line"],
                      let offset = (0..<chip.info.lineCount).first(where: { (try? chip.lineInfo(offset: $0).name) == name }) else {
                    return .object(["ok": .bool(false), "error": .string("the simulated chip has no such line")])
                }
                switch request["level"] {
                case .bool(let level)?: chip.drive(offset: offset, level: level)
                default: chip.drive(offset: offset, level: nil)
                }
                return .object(["ok": .bool(true)])
            default:
                return .object(["ok": .bool(false), "error": .string("unknown request; the commands are status, reload and drive")])
            }
        }
    }
}
