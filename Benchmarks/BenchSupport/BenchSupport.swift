import MQTT
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

// What the benchmarks share: a waiting inbox, spawning the gpiobridge binary, and reading a
// process's RSS and CPU time from /proc.

/// The bench client's messages, handed over on the client's event loop (``delivery``): no stream
/// or task between. ``next(_:)`` waits without spinning: a message is handed straight to a waiting
/// predicate, so the measured round trips are not inflated.
public final class Inbox: Sendable {
    public typealias Predicate = @Sendable (MQTTMessage) -> Bool

    private struct State {
        var messages: [MQTTMessage] = []
        var waiter: (predicate: Predicate, continuation: CheckedContinuation<Void, Never>)?
    }

    private final class Storage: Sendable {
        let state = Mutex(State())

        func take(_ message: MQTTMessage) {
            let waiting = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiter, waiter.predicate(message) {
                    state.waiter = nil
                    return waiter.continuation
                }
                if state.messages.count < 100_000 { state.messages.append(message) }
                return nil
            }
            waiting?.resume()
        }
    }

    private let storage = Storage()

    public init() {}

    /// Pass to the client: it hands each message to the inbox as it is decoded.
    public var delivery: MQTTDelivery {
        MQTTDelivery(message: { [storage] in storage.take($0) }, connection: { _ in })
    }

    /// Drops what arrived so far.
    public func clear() {
        storage.state.withLock { $0.messages = [] }
    }

    /// Waits for a message matching `predicate`; earlier messages are dropped. A timeout ends
    /// the benchmark.
    public func next(timeout: Duration = .seconds(30), _ predicate: @escaping Predicate) async throws {
        if await !waitFor(timeout: timeout, predicate) {
            print("bench: timed out after \(timeout) waiting for a message")
            exit(1)
        }
    }

    /// Waits for a message matching `predicate`, earlier messages dropped; false after `timeout`.
    public func waitFor(timeout: Duration, _ predicate: @escaping Predicate) async -> Bool {
        let timedOut = Mutex(false)
        let timer = Task { [storage] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            let waiting = storage.state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter?.continuation
            }
            if let waiting {
                timedOut.withLock { $0 = true }
                waiting.resume()
            }
        }
        defer { timer.cancel() }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let found = storage.state.withLock { state -> Bool in
                if let index = state.messages.firstIndex(where: predicate) {
                    state.messages.removeFirst(index + 1)
                    return true
                }
                state.messages = []
                state.waiter = (predicate, continuation)
                return false
            }
            if found { continuation.resume() }
        }
        return !timedOut.withLock { $0 }
    }
}

/// Starts the bare reference (Benchmarks/BareEcho) on `prefix` and returns once it echoes.
public func startBareEcho(_ path: String, port: Int, prefix: String, client: MQTTClient, inbox: Inbox) async throws -> pid_t {
    let pid = try spawn(path, [String(port), prefix], environment: [])
    for attempt in 0..<100 {
        client.enqueue(MQTTMessage(topic: "\(prefix)/set", payload: "probe-\(attempt)"))
        if await inbox.waitFor(timeout: .milliseconds(100), { $0.topic == "\(prefix)/state" && $0.payloadString == "probe-\(attempt)" }) {
            return pid
        }
    }
    kill(pid, SIGTERM)
    throw BenchError("the bare echo \(path) did not answer within 10 s")
}

/// Stops a process started with ``spawn(_:_:environment:)`` and reaps it.
public func stop(_ pid: pid_t) {
    kill(pid, SIGTERM)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
}

/// Why a benchmark could not go on.
public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Makes standard output line-buffered, so that a benchmark's figures reach a file as they come.
public func printLinesAsTheyCome() {
    setvbuf(stdout, nil, _IOLBF, 0)
}

/// Runs `client` until `body`, started once it is connected, returns.
public func withRunningClient(_ client: MQTTClient, _ body: @escaping @Sendable () async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await client.run() }
        group.addTask {
            for await state in client.connectionStates() where state.isConnected { break }
            defer { client.stop() }
            try await body()
        }
        try await group.waitForAll()
    }
}

/// Starts `path` with `arguments` and this process's environment plus `environment`.
public func spawn(_ path: String, _ arguments: [String], environment: [String]) throws -> pid_t {
    var variables: [String] = environment
    var index = 0
    while let entry = environ[index] {
        variables.append(String(cString: entry))
        index += 1
    }
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup($0) } + [nil]
    defer { for pointer in argv + envp { free(pointer) } }
    // The child starts with no signal blocked and default handlers: a thread of ours may block
    // SIGTERM, and a child that inherits that cannot be stopped.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attributes, &none)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let result = posix_spawn(&pid, path, nil, &attributes, argv, envp)
    guard result == 0 else { throw BenchError("cannot start \(path): \(String(cString: strerror(result)))") }
    return pid
}

/// The first 8 kB of a file, for /proc.
public func readText(_ path: String) -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 8192)
    let count = read(fd, &buffer, buffer.count)
    return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
}

/// Writes `text` to `path`, replacing it.
public func writeFile(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw BenchError("cannot write \(path)") }
    defer { close(fd) }
    _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}

/// The resident memory of `pid` as the benchmarks print it: `<total> anon_kb <anonymous> file_kb
/// <file-backed>`. File-backed pages are the binary's code, shared and reclaimable; the kernel maps
/// code 64 kB around each page that runs.
public func residentMemory(_ pid: pid_t) -> String {
    "\(status(pid, "VmRSS")) anon_kb \(status(pid, "RssAnon")) file_kb \(status(pid, "RssFile"))"
}

/// A `kB` field of /proc/<pid>/status.
private func status(_ pid: pid_t, _ field: String) -> Int {
    for line in readText("/proc/\(pid)/status").split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
    return 0
}

/// utime + stime of `pid` in clock ticks.
public func cpuTicks(_ pid: pid_t) -> Int {
    let stat = readText("/proc/\(pid)/stat")
    guard let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command name: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
}

/// The `p`th percentile of `values`.
public func percentile(_ values: [Duration], _ p: Int) -> Duration {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, sorted.count * p / 100)]
}

/// `value` with two decimals.
public func formatted(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
}

extension Duration {
    /// The duration in whole microseconds.
    public var microseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
    /// The duration in whole milliseconds.
    public var milliseconds: Int64 { microseconds / 1000 }
    /// The duration in seconds.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
