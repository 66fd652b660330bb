import Logging
import MQTT
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// Prints the agent's figures against a broker on 127.0.0.1, with the agent running as its own
// process (`gpiobridge agent --simulate`): time from start to `online`, RSS after start, the
// command -> state round trip (one command in flight), commands per second sustained, RSS after N
// commands, and CPU while idle. scripts/bench-agent.sh prints them beside the bare broker's.
//
// usage: agent-bench GPIOBRIDGE PORT SAMPLES COMMANDS IDLE_SECONDS

@main
enum AgentBench {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 6, let port = Int(arguments[2]), let samples = Int(arguments[3]), let commands = Int(arguments[4]),
              let idleSeconds = Int(arguments[5]) else {
            print("usage: agent-bench GPIOBRIDGE PORT SAMPLES COMMANDS IDLE_SECONDS")
            exit(2)
        }
        let binary = arguments[1]

        var logger = Logger(label: "agent-bench")
        logger.logLevel = .warning
        var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: port, clientID: "agent-bench-\(getpid())")
        configuration.maximumQueuedMessages = 1_000_000
        configuration.receiveMaximum = 65535
        let client = try MQTTClient(configuration: configuration, logger: logger)
        let inbox = Inbox(client)

        let directory = "/tmp/agent-bench-\(getpid())"
        mkdir(directory, 0o755)
        let profile = "device: {id: bench}\noutputs:\n  - {name: relay, line: GPIO17}\n  - {name: marker, line: GPIO18}\nsafety: {broker_grace: never}\n"
        try writeFile(directory + "/profile.yml", profile)

        try await withRunningClient(client) {
            _ = try await client.subscribe([Subscription(TopicFilter("gpiobridge/bench/#")!, qos: .atMostOnce),
                                            Subscription(TopicFilter("bench/bare")!, qos: .atMostOnce)])
            let started = ContinuousClock.now
            let agent = try spawn(binary, ["agent", "--simulate", "--log-level", "warning"], environment: [
                "GPIOBRIDGE_DIR=\(directory)", "GPIOBRIDGE_RUN_DIR=\(directory)", "GPIOBRIDGE_BROKER=mqtt://127.0.0.1:\(port)",
            ])
            defer {
                kill(agent, SIGTERM)
                var status: Int32 = 0
                waitpid(agent, &status, 0)
            }
            try await inbox.next { $0.topic == "gpiobridge/bench/status" && $0.payloadString == "online" }
            let toOnline = ContinuousClock.now - started
            print("agent start_to_online_ms \(toOnline.milliseconds)")
            try await inbox.next { $0.topic == "gpiobridge/bench/relay" }
            try await Task.sleep(for: .milliseconds(200))
            print("agent rss_after_start_kb \(rss(agent))")

            // The bare broker's round trip through this same client, for the ratio.
            var bare: [Duration] = []
            for index in 0..<samples {
                let start = ContinuousClock.now
                try await client.publish(MQTTMessage(topic: "bench/bare", payload: "\(index)"))
                try await inbox.next { $0.topic == "bench/bare" && $0.payloadString == "\(index)" }
                bare.append(ContinuousClock.now - start)
            }
            print("client rtt p50_us \(percentile(bare, 50).microseconds) p99_us \(percentile(bare, 99).microseconds)")

            // Command -> state: one command in flight, alternating ON and OFF.
            var roundTrips: [Duration] = []
            for index in 0..<samples {
                let state = index.isMultiple(of: 2) ? "ON" : "OFF"
                let start = ContinuousClock.now
                try await client.publish(MQTTMessage(topic: "gpiobridge/bench/relay/set", payload: state))
                try await inbox.next { $0.topic == "gpiobridge/bench/relay" && $0.payloadString == state }
                roundTrips.append(ContinuousClock.now - start)
            }
            print("agent command_rtt p50_us \(percentile(roundTrips, 50).microseconds) p99_us \(percentile(roundTrips, 99).microseconds)")

            // Sustained: commands on QoS 1, pipelined. States of one topic coalesce while the broker
        // acknowledges earlier ones, so the end is marked by one last command to another output:
        // the agent handles commands in order, so its state means every command before it was applied.
        inbox.clear()
        let burst = ContinuousClock.now
        for index in 0..<commands {
            client.enqueue(MQTTMessage(topic: "gpiobridge/bench/relay/set", payload: index.isMultiple(of: 2) ? "ON" : "OFF", qos: .atLeastOnce))
            if index % 1000 == 999 { await Task.yield() }
        }
        client.enqueue(MQTTMessage(topic: "gpiobridge/bench/marker/set", payload: "ON", qos: .atLeastOnce))
        try await inbox.next(timeout: .seconds(max(60, commands / 500))) { $0.topic == "gpiobridge/bench/marker" && $0.payloadString == "ON" }
        let elapsed = ContinuousClock.now - burst
        print("agent commands_per_s \(Int(Double(commands) / elapsed.seconds)) count \(commands)")
            print("agent rss_after_commands_kb \(rss(agent)) count \(commands)")

            // Idle: no traffic; the agent should not wake up (no polling).
            let before = cpuTicks(agent)
            try await Task.sleep(for: .seconds(idleSeconds))
            let ticks = cpuTicks(agent) - before
            let percent = Double(ticks) / Double(sysconf(Int32(_SC_CLK_TCK))) / Double(idleSeconds) * 100
            print("agent idle_cpu_percent \(formatted(percent)) seconds \(idleSeconds) ticks \(ticks)")
        }
    }
}

// MARK: Helpers

/// The bench client's messages. ``next(_:)`` waits without spinning: the consumer hands a
/// message straight to a waiting predicate, so the measured round trips are not inflated.
final class Inbox: Sendable {
    typealias Predicate = @Sendable (MQTTMessage) -> Bool

    private struct State {
        var messages: [MQTTMessage] = []
        var waiter: (predicate: Predicate, continuation: CheckedContinuation<Void, Never>)?
    }

    private final class Storage: Sendable {
        let state = Mutex(State())
    }

    private let storage = Storage()
    private let task: Task<Void, Never>

    init(_ client: MQTTClient) {
        let storage = self.storage
        task = Task {
            for await message in client.messages {
                let waiting = storage.state.withLock { state -> CheckedContinuation<Void, Never>? in
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
    }

    func clear() {
        storage.state.withLock { $0.messages = [] }
    }

    /// Waits for a message matching `predicate`; earlier messages are dropped.
    func next(timeout: Duration = .seconds(30), _ predicate: @escaping Predicate) async throws {
        let timer = Task { [storage] in
            try await Task.sleep(for: timeout)
            let waiting = storage.state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter?.continuation
            }
            if let waiting {
                print("agent-bench: timed out after \(timeout) waiting for a message")
                waiting.resume()
                exit(1)
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
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func withRunningClient(_ client: MQTTClient, _ body: @escaping @Sendable () async throws -> Void) async throws {
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

func spawn(_ path: String, _ arguments: [String], environment: [String]) throws -> pid_t {
    var variables: [String] = environment
    var index = 0
    while let entry = environ[index] {
        variables.append(String(cString: entry))
        index += 1
    }
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup($0) } + [nil]
    defer { for pointer in argv + envp { free(pointer) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, path, nil, nil, argv, envp)
    guard result == 0 else { throw BenchError("cannot start \(path): \(String(cString: strerror(result)))") }
    return pid
}

func readText(_ path: String) -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 8192)
    let count = read(fd, &buffer, buffer.count)
    return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
}

func writeFile(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw BenchError("cannot write \(path)") }
    defer { close(fd) }
    _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}

/// VmRSS of `pid` in kB.
func rss(_ pid: pid_t) -> Int {
    for line in readText("/proc/\(pid)/status").split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
    return 0
}

/// utime + stime of `pid` in clock ticks.
func cpuTicks(_ pid: pid_t) -> Int {
    let stat = readText("/proc/\(pid)/stat")
    guard let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command name: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
}

func percentile(_ values: [Duration], _ p: Int) -> Duration {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, sorted.count * p / 100)]
}

func formatted(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
}

extension Duration {
    var microseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
    var milliseconds: Int64 { microseconds / 1000 }
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
