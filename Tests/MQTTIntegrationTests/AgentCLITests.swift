import Foundation
import MQTT
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `gpiobridge agent --simulate` as a process, with its own profile and run directories.
private final class AgentProcess: Sendable {
    let directory: String
    let environment: [String: String]
    let process: ChildProcess
    let logPath: String

    init(profile: String, broker: Mosquitto, files: [String: String] = [:]) throws {
        directory = NSTemporaryDirectory() + "gpiobridge-agent-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory + "/run", withIntermediateDirectories: true)
        try profile.write(toFile: directory + "/profile.yml", atomically: true, encoding: .utf8)
        for (name, text) in files { try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8) }
        environment = [
            "GPIOBRIDGE_DIR": directory, "GPIOBRIDGE_RUN_DIR": directory + "/run",
            "GPIOBRIDGE_BROKER": "mqtt://127.0.0.1:\(broker.ports.plain)",
        ]
        logPath = directory + "/agent.log"
        process = try ChildProcess(gpiobridge, ["agent", "--simulate"], environment: environment, outputPath: logPath)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Runs another gpiobridge command against this agent.
    func command(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await run(arguments, environment: environment)
    }

    func waitForSocket() async throws {
        try await withTimeout(.seconds(10), "the control socket") { [directory] in
            while !FileManager.default.fileExists(atPath: directory + "/run/agent.sock") { try await Task.sleep(for: .milliseconds(10)) }
        }
    }

    deinit {
        if process.isRunning { kill(process.pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

private let profile = """
    device: {id: cli}
    outputs:
      - {name: lamp, line: GPIO17}
    inputs:
      - {name: button, line: GPIO27, bias: pull-up, active_low: true}
    """

/// Watches `gpiobridge/cli/#` on the broker.
private func withObserver(_ broker: Mosquitto, _ body: @escaping @Sendable (MQTTClient, Inbox) async throws -> Void) async throws {
    let observer = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "cli-observer"), logger: testLogger("observer"))
    let inbox = Inbox(observer)
    try await withRunningClients([observer]) {
        _ = try await observer.subscribe(to: "gpiobridge/cli/#")
        try await body(observer, inbox)
    }
}

private func waitFor(_ inbox: Inbox, _ topic: String, _ payload: String) async throws {
    try await withTimeout(.seconds(10), "\(payload) on \(topic)") {
        while !inbox.messages.contains(where: { $0.topic == topic && $0.payloadString == payload }) { try await Task.sleep(for: .milliseconds(10)) }
    }
}

/// Runs blocking socket calls on a Dispatch thread: the tests' cooperative threads (two on a
/// two-core machine) must stay free for every other test running meanwhile.
private func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}

/// A client of the control socket that sends raw bytes, as a hostile local user could.
private final class RawControlConnection: @unchecked Sendable {
    let fd: Int32

    init(_ path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let connected = withUnixAddress(path) { [fd] in connect(fd, $0, $1) }
        guard fd >= 0, connected == 0 else { throw HarnessError("cannot connect to \(path): errno \(errno)") }
        var timeout = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { return }
            sent += count
        }
    }

    /// Everything the agent sends until it closes the connection; nil if it has not closed it
    /// after 15 s.
    func receiveAll() -> String? {
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 { return nil }
            if count == 0 { return String(decoding: answer, as: UTF8.self) }
            answer += buffer[..<count]
        }
    }

    deinit { close(fd) }
}

@Suite("gpiobridge agent, status, simulate and profile apply as processes")
struct AgentCLITests {
    @Test("SIGTERM: offline is published, the lines are released and the agent exits 0", .needsMosquitto)
    func sigterm() async throws {
        try await withMosquitto { broker in
            try await withObserver(broker) { observer, inbox in
                let agent = try AgentProcess(profile: profile, broker: broker)
                try await waitFor(inbox, "gpiobridge/cli/status", "online")
                try await observer.publish(to: "gpiobridge/cli/lamp/set", payload: "ON", qos: .atLeastOnce)
                try await waitFor(inbox, "gpiobridge/cli/lamp", "ON")
                await agent.process.terminate(SIGTERM)
                #expect(agent.process.exitStatus == 0, "\(agent.log)")
                try await waitFor(inbox, "gpiobridge/cli/status", "offline")
                #expect(agent.log.contains("info agent: stopping: publishing offline and setting safe states"), "\(agent.log)")
            }
        }
    }

    @Test("SIGKILL: the broker publishes the will, offline", .needsMosquitto)
    func will() async throws {
        try await withMosquitto { broker in
            try await withObserver(broker) { _, inbox in
                let agent = try AgentProcess(profile: profile, broker: broker)
                try await waitFor(inbox, "gpiobridge/cli/status", "online")
                await agent.process.terminate(SIGKILL)
                try await waitFor(inbox, "gpiobridge/cli/status", "offline")
            }
        }
    }

    @Test("status shows the connection and lines; simulate presses the button; the press is published", .needsMosquitto)
    func statusAndSimulate() async throws {
        try await withMosquitto { broker in
            try await withObserver(broker) { _, inbox in
                let agent = try AgentProcess(profile: profile, broker: broker)
                try await waitFor(inbox, "gpiobridge/cli/status", "online")
                try await agent.waitForSocket()
                let status = try await agent.command(["status"])
                #expect(status.status == 0)
                #expect(status.output.contains("connection: connected (MQTT 5.0"), "\(status.output)")
                #expect(status.output.contains("  lamp             GPIO17           OFF"), "\(status.output)")
                let pressed = try await agent.command(["simulate", "GPIO27=0"])
                #expect(pressed.status == 0, "\(pressed.output)")
                try await waitFor(inbox, "gpiobridge/cli/button", "ON")
                await agent.process.terminate()
            }
        }
    }

    @Test(
        "profile apply: the agent reloads it and keeps its connection; a busy or missing line is refused and the previous file stays", .needsMosquitto
    )
    func apply() async throws {
        try await withMosquitto { broker in
            try await withObserver(broker) { observer, inbox in
                let agent = try AgentProcess(profile: profile, broker: broker)
                try await waitFor(inbox, "gpiobridge/cli/status", "online")
                try await agent.waitForSocket()
                try await observer.publish(to: "gpiobridge/cli/lamp/set", payload: "ON", qos: .atLeastOnce)
                try await waitFor(inbox, "gpiobridge/cli/lamp", "ON")
                let next = agent.directory + "/next.yml"
                try (profile + "\n  - {name: fan, line: GPIO22}\n").replacingOccurrences(
                    of: "inputs:\n  - {name: button, line: GPIO27, bias: pull-up, active_low: true}\n  - {name: fan, line: GPIO22}",
                    with: "  - {name: fan, line: GPIO22}\ninputs:\n  - {name: button, line: GPIO27, bias: pull-up, active_low: true}"
                )
                .write(toFile: next, atomically: true, encoding: .utf8)
                let applied = try await agent.command(["profile", "apply", next])
                #expect(applied.status == 0, "\(applied.output)")
                #expect(applied.output.contains("lines: 2 kept, 1 added, 0 changed, 0 removed"), "\(applied.output)")
                try await waitFor(inbox, "gpiobridge/cli/fan", "OFF")
                #expect(inbox.messages.filter { $0.topic == "gpiobridge/cli/status" }.count == 1, "the connection stayed")
                #expect(try String(contentsOfFile: agent.directory + "/profile.yml", encoding: .utf8).contains("fan"))
                #expect(try String(contentsOfFile: agent.directory + "/profile.yml.previous", encoding: .utf8) == profile)

                let broken = agent.directory + "/broken.yml"
                try profile.replacingOccurrences(of: "GPIO17", with: "GPIO71").write(toFile: broken, atomically: true, encoding: .utf8)
                let refused = try await agent.command(["profile", "apply", broken])
                #expect(refused.status == 1)
                #expect(refused.output.contains("the running agent refused \(broken) and keeps its profile"), "\(refused.output)")
                #expect(refused.output.contains("\(broken):3:24: outputs[0].line: no GPIO line is named GPIO71"), "\(refused.output)")
                #expect(try String(contentsOfFile: agent.directory + "/profile.yml", encoding: .utf8).contains("fan"), "the previous file is back")
                try await observer.publish(to: "gpiobridge/cli/lamp/set", payload: "OFF", qos: .atLeastOnce)
                try await waitFor(inbox, "gpiobridge/cli/lamp", "OFF")

                let invalid = agent.directory + "/invalid.yml"
                try "device: {id: cli}\noutputs: [{name: lamp}]\n".write(toFile: invalid, atomically: true, encoding: .utf8)
                let rejected = try await agent.command(["profile", "apply", invalid])
                #expect(rejected.status == 2)
                #expect(rejected.output.contains("\(invalid):2:11: outputs[0].line: missing"), "\(rejected.output)")
                await agent.process.terminate()
            }
        }
    }

    @Test("the control socket opens no file a caller names: a reload naming a secret is refused and quotes none of it", .needsMosquitto)
    func reloadNamesNoFile() async throws {
        try await withMosquitto { broker in
            try await withObserver(broker) { _, inbox in
                let agent = try AgentProcess(profile: profile, broker: broker, files: ["secret": "SECRET-LINE root:x:0:0\n"])
                try await waitFor(inbox, "gpiobridge/cli/status", "online")
                try await agent.waitForSocket()
                let connection = try RawControlConnection(agent.directory + "/run/agent.sock")
                connection.send(#"{"command":"reload","profile":"\#(agent.directory)/secret"}"# + "\n")
                let reply = try await offPool { connection.receiveAll() } ?? "(no answer)"
                #expect(reply.contains(#""ok":false"#) && reply.contains("reload takes no \\\"profile\\\""), "\(reply)")
                #expect(!reply.contains("SECRET"), "\(reply)")
                let unknown = try RawControlConnection(agent.directory + "/run/agent.sock")
                unknown.send(#"{"command":"cat","file":"/etc/shadow"}"# + "\n")
                #expect(try await offPool { unknown.receiveAll() }?.contains("unknown command") == true)
                #expect(try await agent.command(["status"]).status == 0)
                await agent.process.terminate()
            }
        }
    }

    @Test("idle, crowded and oversized control connections: the agent stays bounded and online, and closes idle ones", .needsMosquitto)
    func boundedControlSocket() async throws {
        try await withMosquitto { broker in
            try await withObserver(broker) { observer, inbox in
                let agent = try AgentProcess(profile: profile, broker: broker)
                try await waitFor(inbox, "gpiobridge/cli/status", "online")
                try await agent.waitForSocket()
                let socket = agent.directory + "/run/agent.sock"
                let idle = try await offPool { try (0..<64).map { _ in try RawControlConnection(socket) } }
                // The agent holds at most its limit of them; the rest wait in the kernel's backlog or are told it is busy.
                try await Task.sleep(for: .milliseconds(500))
                let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(agent.process.pid)/fd").count) ?? 0
                #expect(descriptors > 0 && descriptors < 150, "the agent holds \(descriptors) descriptors")
                try await observer.publish(to: "gpiobridge/cli/lamp/set", payload: "ON", qos: .atLeastOnce)
                try await waitFor(inbox, "gpiobridge/cli/lamp", "ON")
                // Every idle connection ends: the ones served time out unanswered, the others are told the agent is busy.
                let answers = try await offPool { idle.map { $0.receiveAll() } }
                #expect(!answers.contains(nil), "\(answers.filter { $0 == nil }.count) idle connections were never closed")
                #expect(answers.filter { $0 == "" }.count <= 16)
                #expect(answers.contains { $0?.contains("the agent is busy") == true })
                #expect(inbox.messages.filter { $0.topic == "gpiobridge/cli/status" }.map(\.payloadString) == ["online"])
                let large = try RawControlConnection(socket)
                large.send(String(repeating: " ", count: 5000) + #"{"command":"status"}"# + "\n")
                #expect(try await offPool { large.receiveAll() }?.contains("the request is over 4096 bytes") == true)
                #expect(try await agent.command(["status"]).status == 0)
                await agent.process.terminate()
                #expect(agent.process.exitStatus == 0)
            }
        }
    }

    @Test(
        "a hostile profile (40,000 '['): validate refuses it with its location; the running agent refuses to reload it and stays up", .needsMosquitto)
    func hostileProfile() async throws {
        try await withMosquitto { broker in
            try await withObserver(broker) { observer, inbox in
                let agent = try AgentProcess(profile: profile, broker: broker)
                try await waitFor(inbox, "gpiobridge/cli/status", "online")
                try await agent.waitForSocket()
                let deep = agent.directory + "/deep.yml"
                try String(repeating: "[", count: 40_000).write(toFile: deep, atomically: true, encoding: .utf8)
                let validated = try await agent.command(["profile", "validate", deep])
                #expect(
                    validated.status == 2 && validated.output.contains("\(deep):1:65: YAML: mappings and lists are nested deeper than 64 levels"),
                    "\(validated.output)")
                // Put in place behind the CLI's back, as an editor would: reload keeps the running profile.
                try String(repeating: "[", count: 40_000).write(toFile: agent.directory + "/profile.yml", atomically: true, encoding: .utf8)
                let reloaded = try await agent.command(["reload"])
                #expect(reloaded.status == 1 && reloaded.output.contains("is not valid; the agent keeps its profile"), "\(reloaded.output)")
                #expect(agent.process.isRunning)
                try await observer.publish(to: "gpiobridge/cli/lamp/set", payload: "ON", qos: .atLeastOnce)
                try await waitFor(inbox, "gpiobridge/cli/lamp", "ON")
                #expect(!inbox.messages.contains { $0.topic == "gpiobridge/cli/status" && $0.payloadString == "offline" })
                await agent.process.terminate()
            }
        }
    }

    @Test(
        "a second agent for the same profile refuses to start, names the first one's PID, and leaves its socket and connection alone", .needsMosquitto
    )
    func oneAgentPerProfile() async throws {
        try await withMosquitto { broker in
            try await withObserver(broker) { _, inbox in
                let first = try AgentProcess(profile: profile, broker: broker)
                try await waitFor(inbox, "gpiobridge/cli/status", "online")
                try await first.waitForSocket()
                let second = try await first.command(["agent", "--simulate"])
                #expect(second.status == 1, "\(second.output)")
                #expect(second.output.contains("another agent (PID \(first.process.pid)) already runs this profile"), "\(second.output)")
                #expect(FileManager.default.fileExists(atPath: first.directory + "/run/agent.sock"))
                #expect(try await first.command(["status"]).status == 0)
                try await Task.sleep(for: .milliseconds(300))
                #expect(inbox.messages.filter { $0.topic == "gpiobridge/cli/status" }.map(\.payloadString) == ["online"])
                await first.process.terminate()
            }
        }
    }

    @Test("status with no agent running says so and exits 1")
    func noAgent() async throws {
        let directory = NSTemporaryDirectory() + "gpiobridge-none-\(UUID().uuidString.prefix(8))"
        let result = try await run(["status"], environment: ["GPIOBRIDGE_RUN_DIR": directory])
        #expect(result.status == 1)
        #expect(result.output.contains("Error: no agent is running (nothing listens on \(directory)/agent.sock)"), "\(result.output)")
    }

    @Test("profile apply Profiles/relay.yml against an agent running it: nothing glitches, and the relays answer", .needsMosquitto)
    func applyRelayExample() async throws {
        let relay = try String(contentsOfFile: packageRoot + "/Profiles/relay.yml", encoding: .utf8)
        try await withMosquitto { broker in
            let observer = try MQTTClient(
                configuration: clientConfiguration(port: broker.ports.plain, "relay-observer"), logger: testLogger("observer"))
            let inbox = Inbox(observer)
            try await withRunningClients([observer]) {
                _ = try await observer.subscribe(to: "gpiobridge/garage-pi/#")
                // The password file sits beside the profile, as mqtt-password does in /etc/gpiobridge.
                let agent = try AgentProcess(profile: relay, broker: broker, files: ["mqtt-password": "garage-secret\n"])
                try await waitFor(inbox, "gpiobridge/garage-pi/status", "online")
                try await agent.waitForSocket()
                let applied = try await agent.command(["profile", "apply", packageRoot + "/Profiles/relay.yml"])
                #expect(applied.status == 0, "\(applied.output)")
                #expect(applied.output.contains("lines: 4 kept, 0 added, 0 changed, 0 removed"), "\(applied.output)")
                try await observer.publish(to: "gpiobridge/garage-pi/light/set", payload: "ON", qos: .atLeastOnce)
                try await waitFor(inbox, "gpiobridge/garage-pi/light", "ON")
                try await observer.publish(to: "gpiobridge/garage-pi/door_opener/set", payload: "ON", qos: .atLeastOnce)
                try await waitFor(inbox, "gpiobridge/garage-pi/door_opener", "ON")
                try await waitFor(inbox, "gpiobridge/garage-pi/door_opener", "OFF")
                await agent.process.terminate()
                #expect(agent.process.exitStatus == 0)
            }
        }
    }
}
