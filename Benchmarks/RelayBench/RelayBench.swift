import BenchSupport
import Logging
import MQTT
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// Prints the relay's figures with many emulated Tasmota boards, each its own MQTT connection with
// its LWT will, and the relay as its own process (`gpiobridge relay`): time until every board is
// mirrored, RSS, the round trip of a translated command beside the boards' own round trip, the
// bare two-hop echo's and the bare relay's (Benchmarks/BareEcho: a relay that does no work), with
// the command at QoS 0 and at QoS 1, CPU under telemetry, and CPU while idle (each skipped when its
// seconds are 0).
// scripts/bench-relay.sh runs it on a stock and a tuned broker.
//
// usage: relay-bench GPIOBRIDGE BARE_ECHO PORT BOARDS SAMPLES LOAD_SECONDS IDLE_SECONDS

/// The bare relays' topic prefixes: subscribed with QoS 0, and with QoS 1.
let bareRelayPrefixes = ["bench/bare-relay/qos0", "bench/bare-relay/qos1"]

@main
enum RelayBench {
    static func main() async throws {
        printLinesAsTheyCome()
        let arguments = CommandLine.arguments
        guard arguments.count == 8, let port = Int(arguments[3]), let boardCount = Int(arguments[4]), let samples = Int(arguments[5]),
            let loadSeconds = Int(arguments[6]), let idleSeconds = Int(arguments[7])
        else {
            print("usage: relay-bench GPIOBRIDGE BARE_ECHO PORT BOARDS SAMPLES LOAD_SECONDS IDLE_SECONDS")
            exit(2)
        }
        let binary = arguments[1]
        let bareEcho = arguments[2]
        var logger = Logger(label: "relay-bench")
        logger.logLevel = .warning

        let directory = "/tmp/relay-bench-\(getpid())"
        mkdir(directory, 0o755)
        let names = (0..<boardCount).map { "b\(String(1_000_000 + $0).suffix(4))" }
        var profile = "relay: {id: bench-relay}\nfleet: {host: 127.0.0.1}\nboards:\n"
        for name in names {
            profile += "  - {name: \(name), tasmota: {topic: tasmota_\(name), relays: {light: 1}, sensors: {temperature: SI7021.Temperature}}}\n"
        }
        try writeFile(directory + "/relay.yml", profile)

        // The boards: one connection each, with Tasmota's will, birth and command handling.
        let boards = try names.map { try EmulatedTasmota(topic: "tasmota_\($0)", port: port, logger: logger) }
        var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: port, clientID: "relay-bench-\(getpid())")
        configuration.maximumQueuedMessages = 1_000_000
        configuration.receiveMaximum = 65535
        let inbox = Inbox()
        let client = try MQTTClient(configuration: configuration, logger: logger, delivery: inbox.delivery)

        try await withThrowingTaskGroup(of: Void.self) { group in
            for board in boards { group.addTask { try await board.client.run() } }
            group.addTask {
                try await withRunningClient(client) {
                    try await run(
                        binary: binary, bareEcho: bareEcho, directory: directory, port: port, names: names, boards: boards, client: client,
                        inbox: inbox,
                        samples: samples, loadSeconds: loadSeconds, idleSeconds: idleSeconds)
                }
                for board in boards { board.client.stop() }
            }
            try await group.waitForAll()
        }
    }

    static func run(
        binary: String, bareEcho: String, directory: String, port: Int, names: [String], boards: [EmulatedTasmota], client: MQTTClient, inbox: Inbox,
        samples: Int, loadSeconds: Int, idleSeconds: Int
    ) async throws {
        let connectStart = ContinuousClock.now
        while boards.contains(where: { !$0.online }) { try await Task.sleep(for: .milliseconds(20)) }
        print("boards connected \(names.count) in_ms \((ContinuousClock.now - connectStart).milliseconds)")

        _ = try await client.subscribe([
            Subscription(TopicFilter("gpiobridge/+/status")!, qos: .atMostOnce),
            Subscription(TopicFilter("gpiobridge/+/light")!, qos: .atMostOnce),
            Subscription(TopicFilter("stat/+/RESULT")!, qos: .atMostOnce),
            Subscription(TopicFilter("bench/echo/state")!, qos: .atMostOnce),
            Subscription(TopicFilter("bench/bare-relay/+/state")!, qos: .atMostOnce),
        ])
        let echo = try await startBareEcho(bareEcho, port: port, prefix: "bench/echo", client: client, inbox: inbox)
        defer { stop(echo) }
        // The bare relays: a board's command and state topics, each passed on as it came, by a
        // minimal client subscribed with QoS 0 (the first board) and with QoS 1 (the second), as
        // the relay is. Those boards are kept for them; the others are picked at random below.
        let bareRelays = try [(names[0], bareRelayPrefixes[0], "0"), (names[1], bareRelayPrefixes[1], "1")].map { name, prefix, qos in
            try spawn(
                bareEcho,
                [String(port), "\(prefix)/set", "cmnd/tasmota_\(name)/POWER1", "stat/tasmota_\(name)/RESULT", "\(prefix)/state"],
                environment: ["BARE_QOS=\(qos)"])
        }
        defer { bareRelays.forEach(stop) }
        for prefix in bareRelayPrefixes {
            var up = false
            for _ in 0..<100 where !up {
                client.enqueue(MQTTMessage(topic: "\(prefix)/set", payload: "ON"))
                up = await inbox.waitFor(timeout: .milliseconds(100)) { $0.topic == "\(prefix)/state" && $0.payloadString == "{\"POWER\":\"ON\"}" }
            }
            guard up else { throw BenchError("the bare relay \(prefix) did not answer within 10 s") }
        }
        var bareOn = true
        let started = ContinuousClock.now
        let relay = try spawn(
            binary, ["relay", "--profile", directory + "/relay.yml", "--log-level", "warning"],
            environment: [
                "GPIOBRIDGE_BROKER=mqtt://127.0.0.1:\(port)"
            ])
        defer { stop(relay) }
        // Every board online on the fleet side: the relay has subscribed and mirrored them all.
        for _ in names {
            try await inbox.next(timeout: .seconds(120)) { message in
                message.topic.hasSuffix("/status") && message.payloadString == "online" && message.topic != "gpiobridge/bench-relay/status"
            }
        }
        print("relay start_to_mirrored_ms \((ContinuousClock.now - started).milliseconds) boards \(names.count)")
        try await Task.sleep(for: .milliseconds(500))
        print("relay rss_after_start_kb \(residentMemory(relay))")

        // Round trips, interleaved so that all see the same conditions: the bare two-hop echo (a
        // minimal client answering on a state topic); then with the command at QoS 0 and at QoS 1
        // (as Home Assistant sends): a board's own (cmnd -> stat RESULT), the bare relay's, and a
        // translated command (gpiobridge/<board>/light/set -> the board -> gpiobridge/<board>/light).
        var bare: [Duration] = []
        var board: [[Duration]] = [[], []]
        var bareRelayed: [[Duration]] = [[], []]
        var translated: [[Duration]] = [[], []]
        var generator = SystemRandomNumberGenerator()
        var states = Array(repeating: false, count: names.count)
        for index in 0..<samples {
            var start = ContinuousClock.now
            client.enqueue(MQTTMessage(topic: "bench/echo/set", payload: "\(index)"))
            try await inbox.next { $0.topic == "bench/echo/state" && $0.payloadString == "\(index)" }
            bare.append(ContinuousClock.now - start)

            bareOn.toggle()
            for (qosIndex, qos) in [QoS.atMostOnce, .atLeastOnce].enumerated() {
                let prefix = bareRelayPrefixes[qosIndex]
                let bareCommand = bareOn ? "ON" : "OFF"
                let bareResult = "{\"POWER\":\"\(bareCommand)\"}"
                start = ContinuousClock.now
                client.enqueue(MQTTMessage(topic: "\(prefix)/set", payload: bareCommand, qos: qos))
                try await inbox.next { $0.topic == "\(prefix)/state" && $0.payloadString == bareResult }
                bareRelayed[qosIndex].append(ContinuousClock.now - start)
                // Let the relay mirror that change before the next command.
                try await inbox.next { $0.topic == "gpiobridge/\(names[qosIndex])/light" && $0.payloadString == bareCommand }

                var which = Int.random(in: 2..<names.count, using: &generator)
                states[which].toggle()
                var word = states[which] ? "ON" : "OFF"
                let result = "{\"POWER\":\"\(word)\"}"
                let statTopic = "stat/tasmota_\(names[which])/RESULT"
                start = ContinuousClock.now
                client.enqueue(MQTTMessage(topic: "cmnd/tasmota_\(names[which])/POWER1", payload: word, qos: qos))
                try await inbox.next { $0.topic == statTopic && $0.payloadString == result }
                board[qosIndex].append(ContinuousClock.now - start)
                // Let the relay mirror that change before the next command.
                let mirrored = "gpiobridge/\(names[which])/light"
                let expected = word
                try await inbox.next { $0.topic == mirrored && $0.payloadString == expected }

                which = Int.random(in: 2..<names.count, using: &generator)
                states[which].toggle()
                word = states[which] ? "ON" : "OFF"
                let stateTopic = "gpiobridge/\(names[which])/light"
                let commanded = word
                start = ContinuousClock.now
                client.enqueue(MQTTMessage(topic: "gpiobridge/\(names[which])/light/set", payload: word, qos: qos))
                try await inbox.next { $0.topic == stateTopic && $0.payloadString == commanded }
                translated[qosIndex].append(ContinuousClock.now - start)
            }
        }
        func figures(_ values: [Duration]) -> String { "p50_us \(percentile(values, 50).microseconds) p99_us \(percentile(values, 99).microseconds)" }
        print("bare echo_rtt \(figures(bare))")
        for (qosIndex, suffix) in ["", "_qos1"].enumerated() {
            print("bare board\(suffix)_rtt \(figures(board[qosIndex]))")
            print("bare relay\(suffix)_rtt \(figures(bareRelayed[qosIndex]))")
            print("relay command\(suffix)_rtt \(figures(translated[qosIndex])) samples \(samples)")
        }

        // Telemetry: every board sends SENSOR every 10 s (Tasmota's TelePeriod is 300 s by default),
        // spread evenly, for the load window.
        guard loadSeconds > 0 else { return }
        let period = Duration.seconds(10)
        let before = cpuTicks(relay)
        let loadStart = ContinuousClock.now
        let sent = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, board) in boards.enumerated() {
                group.addTask {
                    var next = loadStart + period * Double(index) / Double(boards.count)
                    while next < loadStart + .seconds(loadSeconds) {
                        try await Task.sleep(until: next, clock: .continuous)
                        let celsius = 15 + Double(Int.random(in: 0...200)) / 10
                        board.client.enqueue(
                            MQTTMessage(
                                topic: "tele/\(board.topic)/SENSOR",
                                payload:
                                    "{\"Time\":\"2026-11-27T10:00:00\",\"SI7021\":{\"Temperature\":\(celsius),\"Humidity\":50.0},\"TempUnit\":\"C\"}")
                        )
                        sent.increment()
                        next += period
                    }
                }
            }
            try await group.waitForAll()
        }
        let loadTicks = cpuTicks(relay) - before
        let loadElapsed = (ContinuousClock.now - loadStart).seconds
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        print(
            "relay load_cpu_percent \(formatted(Double(loadTicks) / hz / loadElapsed * 100)) messages_per_s \(formatted(Double(sent.value) / loadElapsed)) seconds \(Int(loadElapsed))"
        )
        try await Task.sleep(for: .milliseconds(500))
        print("relay rss_after_load_kb \(residentMemory(relay))")

        guard idleSeconds > 0 else { return }
        let idleBefore = cpuTicks(relay)
        try await Task.sleep(for: .seconds(idleSeconds))
        let idleTicks = cpuTicks(relay) - idleBefore
        print("relay idle_cpu_percent \(formatted(Double(idleTicks) / hz / Double(idleSeconds) * 100)) seconds \(idleSeconds) ticks \(idleTicks)")
    }
}

/// A Tasmota board as the relay meets it: LWT will and birth, POWER commands answered with
/// stat RESULT (one relay, so `POWER`).
final class EmulatedTasmota: Sendable {
    let topic: String
    let client: MQTTClient
    private let state = Mutex((on: false, online: false))

    init(topic: String, port: Int, logger: Logger) throws {
        self.topic = topic
        var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: port, clientID: "DVES_\(topic)")
        configuration.version = .v3_1_1
        configuration.fallbackToV3_1_1 = false
        configuration.keepAlive = 30
        configuration.will = WillMessage(topic: "tele/\(topic)/LWT", payload: ByteBuffer(string: "Offline"), qos: .atLeastOnce, retain: true)
        client = try MQTTClient(configuration: configuration, logger: logger)
        let states = client.connectionStates()
        Task { [self] in
            for await connection in states where connection.isConnected {
                _ = try? await client.subscribe(to: "cmnd/\(topic)/#", qos: .atMostOnce)
                try? await client.publish(to: "tele/\(topic)/LWT", payload: "Online", qos: .atLeastOnce, retain: true)
                state.withLock { $0.online = true }
            }
        }
        Task { [self] in
            for await message in client.messages {
                guard message.topic.uppercased().hasSuffix("/POWER1") || message.topic.uppercased().hasSuffix("/POWER") else { continue }
                let on = state.withLock { state -> Bool in
                    switch message.payloadString.uppercased() {
                    case "ON", "1": state.on = true
                    case "OFF", "0": state.on = false
                    case "TOGGLE": state.on.toggle()
                    default: break
                    }
                    return state.on
                }
                client.enqueue(MQTTMessage(topic: "stat/\(topic)/RESULT", payload: "{\"POWER\":\"\(on ? "ON" : "OFF")\"}"))
            }
        }
    }

    var online: Bool { state.withLock { $0.online } }
}

/// A count shared between tasks.
final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() {
        count.withLock { $0 += 1 }
    }
    var value: Int { count.withLock { $0 } }
}
