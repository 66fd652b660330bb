import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The root of this package, found from this file's path.
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }
    return url.path
}()

/// Failure of the test harness itself (not of the code under test).
struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a program to completion without blocking a thread, and returns its exit status and
/// combined output.
@discardableResult
func runProgram(_ path: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(60))
    async throws -> (status: Int32, output: String)
{
    let outputPath = NSTemporaryDirectory() + "gpiobridge-run-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    let child = try ChildProcess(path, arguments, environment: environment, outputPath: outputPath)
    let deadline = ContinuousClock.now + timeout
    while child.isRunning {
        if ContinuousClock.now > deadline {
            await child.terminate(SIGKILL)
            throw HarnessError("\(path) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        try await Task.sleep(for: .milliseconds(5))
    }
    let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    return (child.exitStatus ?? -1, output)
}

/// Calls `body` (bind or connect) with the socket address of the Unix socket at `path`.
func withUnixAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

/// A TCP port that was free a moment ago on 127.0.0.1.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    guard bound == 0 else { throw HarnessError("bind() failed") }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func isListening(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// Test certificates, generated once per test process by scripts/gen-test-certs.sh (EC P-256):
/// a CA, a server certificate for localhost and 127.0.0.1, one for wrong.example, a client
/// certificate (CN client1), and an unrelated CA.
enum TestPKI {
    private static let cache = Cache()

    /// Generates once; every caller awaits the same generation.
    private actor Cache {
        var generation: Task<String, any Error>?
        func get() async throws -> String {
            if generation == nil {
                generation = Task {
                    let directory = NSTemporaryDirectory() + "gpiobridge-pki-\(getpid())"
                    let result = try await runProgram("/bin/bash", [packageRoot + "/scripts/gen-test-certs.sh", directory])
                    guard result.status == 0 else { throw HarnessError("gen-test-certs.sh failed: \(result.output)") }
                    return directory
                }
            }
            return try await generation!.value
        }
    }

    static func path(_ file: String) async throws -> String {
        try await cache.get() + "/" + file
    }
}

/// A real Mosquitto broker, started by the test on free 127.0.0.1 ports with its own config and
/// stopped by pid. Listeners: plain anonymous; user/password with ACL; TLS with user/password;
/// mutual TLS (certificate CN is the user); TLS with a certificate for the wrong host name; TLS
/// with a certificate that expired on 2020-01-02.
///
/// It runs with Mosquitto's defaults, as users run it (Nagle on, 1,000 queued messages per
/// client): only the listeners, persistence (on in Debian's packaged config) and the log are set.
/// A test that needs another setting passes it in `extraGlobalOptions` and says why.
final class Mosquitto: @unchecked Sendable {
    struct Ports {
        var plain: Int
        var auth: Int
        var tls: Int
        var mtls: Int
        var wrongHost: Int
        var expired: Int
    }

    let directory: String
    private let extraGlobalOptions: [String]
    private let currentPorts: Locked<Ports>
    private let hasStarted = Locked(false)
    /// The listeners' ports; fixed once the broker has started (a restart keeps them).
    var ports: Ports { currentPorts.value }
    private let process = Locked<ChildProcess?>(nil)

    /// - Parameter extraGlobalOptions: lines added to the config before the listeners, such as
    ///   `max_keepalive 2`.
    init(extraGlobalOptions: [String] = []) async throws {
        directory = NSTemporaryDirectory() + "gpiobridge-mosquitto-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        self.extraGlobalOptions = extraGlobalOptions
        currentPorts = Locked(try Self.freshPorts())
        let acl = """
            user alice
            topic readwrite test/#
            topic readwrite gpiobridge/#
            user bob
            topic read test/#
            user client1
            topic readwrite test/#
            """
        try acl.write(toFile: directory + "/acl", atomically: true, encoding: .utf8)
        let passwd = directory + "/passwd"
        _ = FileManager.default.createFile(atPath: passwd, contents: nil)
        for (user, password) in [("alice", "secret"), ("bob", "bobpw")] {
            let result = try await runProgram("/usr/bin/mosquitto_passwd", ["-b", passwd, user, password])
            guard result.status == 0 else { throw HarnessError("mosquitto_passwd failed: \(result.output)") }
        }
        try await writeConfiguration()
    }

    private static func freshPorts() throws -> Ports {
        Ports(
            plain: try freePort(), auth: try freePort(), tls: try freePort(), mtls: try freePort(), wrongHost: try freePort(),
            expired: try freePort())
    }

    /// Writes mosquitto.conf for the current ports. Mosquitto started as root drops to user
    /// "mosquitto": its folder and files must be readable and writable by it.
    private func writeConfiguration() async throws {
        let ports = self.ports
        let passwd = directory + "/passwd"
        let ca = try await TestPKI.path("ca.crt")
        let config = """
            per_listener_settings true
            persistence true
            persistence_location \(directory)/data/
            log_dest file \(directory)/mosquitto.log
            log_type all
            \(extraGlobalOptions.joined(separator: "\n"))

            listener \(ports.plain) 127.0.0.1
            allow_anonymous true

            listener \(ports.auth) 127.0.0.1
            allow_anonymous false
            password_file \(passwd)
            acl_file \(directory)/acl

            listener \(ports.tls) 127.0.0.1
            allow_anonymous false
            password_file \(passwd)
            acl_file \(directory)/acl
            cafile \(ca)
            certfile \(try await TestPKI.path("server.crt"))
            keyfile \(try await TestPKI.path("server.key"))

            listener \(ports.mtls) 127.0.0.1
            allow_anonymous false
            acl_file \(directory)/acl
            cafile \(ca)
            certfile \(try await TestPKI.path("server.crt"))
            keyfile \(try await TestPKI.path("server.key"))
            require_certificate true
            use_identity_as_username true

            listener \(ports.wrongHost) 127.0.0.1
            allow_anonymous true
            cafile \(ca)
            certfile \(try await TestPKI.path("wrong-host.crt"))
            keyfile \(try await TestPKI.path("wrong-host.key"))

            listener \(ports.expired) 127.0.0.1
            allow_anonymous true
            cafile \(ca)
            certfile \(try await TestPKI.path("expired.crt"))
            keyfile \(try await TestPKI.path("expired.key"))

            """
        try config.write(toFile: directory + "/mosquitto.conf", atomically: true, encoding: .utf8)
        for path in [directory, directory + "/data"] { chmod(path, 0o777) }
        for file in ["acl", "passwd", "mosquitto.conf"] { chmod(directory + "/" + file, 0o644) }
    }

    /// Starts the broker and waits until every listener accepts connections. A port taken in the
    /// meantime by another process makes the first start pick new ports; a restart keeps its
    /// ports and tries again.
    func start() async throws {
        let restart = hasStarted.value
        var attempt = 0
        while true {
            attempt += 1
            do {
                try await launch()
                hasStarted.withLock { $0 = true }
                return
            } catch let error as HarnessError where error.description.contains("Address already in use") && attempt < 5 {
                if restart {
                    try await Task.sleep(for: .milliseconds(200))
                } else {
                    currentPorts.withLock { $0 = (try? Self.freshPorts()) ?? $0 }
                    try await writeConfiguration()
                }
            }
        }
    }

    private func launch() async throws {
        try? FileManager.default.removeItem(atPath: directory + "/stderr.log")
        let child = try ChildProcess(
            "/usr/sbin/mosquitto", ["-c", directory + "/mosquitto.conf"],
            outputPath: directory + "/stderr.log")
        process.withLock { $0 = child }
        let ports = self.ports
        let all = [ports.plain, ports.auth, ports.tls, ports.mtls, ports.wrongHost, ports.expired]
        let deadline = ContinuousClock.now + .seconds(10)
        while !all.allSatisfy(isListening) {
            guard child.isRunning else {
                let stderr = (try? String(contentsOfFile: directory + "/stderr.log", encoding: .utf8)) ?? ""
                throw HarnessError("mosquitto exited with \(child.exitStatus ?? -1); stderr:\n\(stderr)\nlog:\n\(log.suffix(2000))")
            }
            guard ContinuousClock.now < deadline else { throw HarnessError("mosquitto did not listen within 10 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Stops the broker with SIGTERM (it saves its persistence file) and waits for it to exit.
    func stop() async {
        guard
            let child = process.withLock({ process in
                defer { process = nil }
                return process
            })
        else { return }
        await child.terminate()
    }

    /// Freezes the broker (SIGSTOP): sockets stay open, nothing is answered.
    func pause() {
        process.value?.signal(SIGSTOP)
    }

    /// Thaws a paused broker.
    func resume() {
        process.value?.signal(SIGCONT)
    }

    var log: String { (try? String(contentsOfFile: directory + "/mosquitto.log", encoding: .utf8)) ?? "" }

    /// Removes the broker's folder; call after ``stop()``.
    func removeFiles() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Starts a broker for the duration of `body`, then stops it.
func withMosquitto<T>(extraGlobalOptions: [String] = [], _ body: (Mosquitto) async throws -> T) async throws -> T {
    let broker = try await Mosquitto(extraGlobalOptions: extraGlobalOptions)
    try await broker.start()
    do {
        let result = try await body(broker)
        await broker.stop()
        broker.removeFiles()
        return result
    } catch {
        await broker.stop()
        print("mosquitto log of the failed test:\n\(broker.log.suffix(4000))")
        broker.removeFiles()
        throw error
    }
}

extension Trait where Self == ConditionTrait {
    /// Skips a suite that starts Mosquitto on a machine without it, saying how to get it, instead
    /// of failing each test. scripts/test.sh installs it and runs every stage.
    static var needsMosquitto: Self {
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto")
                && FileManager.default.isExecutableFile(atPath: "/usr/bin/mosquitto_passwd"),
            "needs Mosquitto (/usr/sbin/mosquitto): run scripts/setup.sh, or scripts/test.sh unit for the tests without a broker")
    }
}
