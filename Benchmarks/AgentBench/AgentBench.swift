import BenchSupport
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
