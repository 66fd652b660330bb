import BenchSupport
import Logging
import MQTT
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// Prints the agent's figures against one broker on 127.0.0.1, with the agent running as its own
// process (`gpiobridge agent --simulate`): time from start to `online`, RSS after start, the
// command -> state round trip (one command in flight) interleaved with the bare reference's (a
// libmosquitto client echoing each command on a state topic: the same two hops), commands per
// second sustained for both, RSS after N commands, and CPU while idle (skipped when IDLE_SECONDS
// is 0). scripts/bench-agent.sh runs it on a stock and a tuned broker and prints them side by side.
//
// usage: agent-bench GPIOBRIDGE BARE_ECHO PORT SAMPLES COMMANDS IDLE_SECONDS

@main
enum AgentBench {
    static func main() async throws {
        printLinesAsTheyCome()
        let arguments = CommandLine.arguments
        guard arguments.count == 7, let port = Int(arguments[3]), let samples = Int(arguments[4]), let commands = Int(arguments[5]),
            let idleSeconds = Int(arguments[6])
        else {
            print("usage: agent-bench GPIOBRIDGE BARE_ECHO PORT SAMPLES COMMANDS IDLE_SECONDS")
            exit(2)
        }
        let binary = arguments[1]
        let bareEcho = arguments[2]

        var logger = Logger(label: "agent-bench")
        logger.logLevel = .warning
        var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: port, clientID: "agent-bench-\(getpid())")
        configuration.maximumQueuedMessages = 1_000_000
        configuration.receiveMaximum = 65535
        let client = try MQTTClient(configuration: configuration, logger: logger)
        let inbox = Inbox(client)

        let directory = "/tmp/agent-bench-\(getpid())"
        mkdir(directory, 0o755)
        let profile =
            "device: {id: bench}\noutputs:\n  - {name: relay, line: GPIO17}\n  - {name: marker, line: GPIO18}\nsafety: {broker_grace: never}\n"
        try writeFile(directory + "/profile.yml", profile)

        try await withRunningClient(client) {
            _ = try await client.subscribe([
                Subscription(TopicFilter("gpiobridge/bench/#")!, qos: .atMostOnce),
                Subscription(TopicFilter("bench/echo/state")!, qos: .atMostOnce),
            ])
            let started = ContinuousClock.now
            let agent = try spawn(
                binary, ["agent", "--simulate", "--log-level", "warning"],
                environment: [
                    "GPIOBRIDGE_DIR=\(directory)", "GPIOBRIDGE_RUN_DIR=\(directory)", "GPIOBRIDGE_BROKER=mqtt://127.0.0.1:\(port)",
                ])
            defer { stop(agent) }
            try await inbox.next { $0.topic == "gpiobridge/bench/status" && $0.payloadString == "online" }
            let toOnline = ContinuousClock.now - started
            print("agent start_to_online_ms \(toOnline.milliseconds)")
            try await inbox.next { $0.topic == "gpiobridge/bench/relay" }
            try await Task.sleep(for: .milliseconds(200))
            print("agent rss_after_start_kb \(residentMemory(agent))")

            let echo = try await startBareEcho(bareEcho, port: port, prefix: "bench/echo", client: client, inbox: inbox)
            defer { stop(echo) }

            // Command -> state, one command in flight, alternating ON and OFF; the bare echo's
            // round trip interleaved, so that both see the same conditions.
            var bare: [Duration] = []
            var roundTrips: [Duration] = []
            for index in 0..<samples {
                var start = ContinuousClock.now
                client.enqueue(MQTTMessage(topic: "bench/echo/set", payload: "\(index)"))
                try await inbox.next { $0.topic == "bench/echo/state" && $0.payloadString == "\(index)" }
                bare.append(ContinuousClock.now - start)

                let state = index.isMultiple(of: 2) ? "ON" : "OFF"
                start = ContinuousClock.now
                client.enqueue(MQTTMessage(topic: "gpiobridge/bench/relay/set", payload: state))
                try await inbox.next { $0.topic == "gpiobridge/bench/relay" && $0.payloadString == state }
                roundTrips.append(ContinuousClock.now - start)
            }
            print("bare echo_rtt p50_us \(percentile(bare, 50).microseconds) p99_us \(percentile(bare, 99).microseconds)")
            print("agent command_rtt p50_us \(percentile(roundTrips, 50).microseconds) p99_us \(percentile(roundTrips, 99).microseconds)")

            // Sustained: commands on QoS 1, pipelined in windows of 500, so that no broker queue
            // overflows (stock Mosquitto keeps 1,000 messages per client and drops the rest). A
            // window ends when its last command's answer arrives: the echo answers each one; the
            // agent's states of one topic coalesce, so each window ends with a command to another
            // output, and the agent handles commands in order.
            let window = 500
            var burst = ContinuousClock.now
            for first in stride(from: 0, to: commands, by: window) {
                let last = min(first + window, commands) - 1
                for index in first...last {
                    client.enqueue(MQTTMessage(topic: "bench/echo/set", payload: "\(index)", qos: .atLeastOnce))
                }
                try await inbox.next { $0.topic == "bench/echo/state" && $0.payloadString == "\(last)" }
            }
            print("bare echo_commands_per_s \(Int(Double(commands) / (ContinuousClock.now - burst).seconds)) count \(commands)")

            burst = ContinuousClock.now
            for (round, first) in stride(from: 0, to: commands, by: window).enumerated() {
                for index in first..<min(first + window, commands) {
                    client.enqueue(
                        MQTTMessage(topic: "gpiobridge/bench/relay/set", payload: index.isMultiple(of: 2) ? "ON" : "OFF", qos: .atLeastOnce))
                }
                let marker = round.isMultiple(of: 2) ? "ON" : "OFF"
                client.enqueue(MQTTMessage(topic: "gpiobridge/bench/marker/set", payload: marker, qos: .atLeastOnce))
                try await inbox.next { $0.topic == "gpiobridge/bench/marker" && $0.payloadString == marker }
            }
            print("agent commands_per_s \(Int(Double(commands) / (ContinuousClock.now - burst).seconds)) count \(commands)")
            print("agent rss_after_commands_kb \(residentMemory(agent)) count \(commands)")

            // Idle: no traffic; the agent should not wake up (no polling).
            guard idleSeconds > 0 else { return }
            let before = cpuTicks(agent)
            try await Task.sleep(for: .seconds(idleSeconds))
            let ticks = cpuTicks(agent) - before
            let percent = Double(ticks) / Double(sysconf(Int32(_SC_CLK_TCK))) / Double(idleSeconds) * 100
            print("agent idle_cpu_percent \(formatted(percent)) seconds \(idleSeconds) ticks \(ticks)")
        }
    }
}
