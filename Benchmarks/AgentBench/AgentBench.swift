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
        let inbox = Inbox()
        let client = try MQTTClient(configuration: configuration, logger: logger, delivery: inbox.delivery)

        let directory = "/tmp/agent-bench-\(getpid())"
        mkdir(directory, 0o755)
        let profile = """
            device: {id: bench}
            outputs:
              - {name: relay, line: GPIO17}
              - {name: marker0, line: GPIO18}
              - {name: marker1, line: GPIO19}
            safety: {broker_grace: never}

            """
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

            // Sustained: commands on QoS 1 in windows of 400, the next window sent before waiting
            // for the one before, so that the pipeline never drains; two windows stay under the
            // 1,000 messages stock Mosquitto queues per client (it drops the rest). A window ends
            // when its last command's answer arrives: the echo answers each one; the agent's
            // states of one topic coalesce, so each window ends with a command to a marker output
            // (two markers, taking turns, so that a marker's states are never coalesced), and the
            // agent handles commands in order.
            let window = 400
            var burst = ContinuousClock.now
            var waiting: Int?
            for first in stride(from: 0, to: commands, by: window) {
                let last = min(first + window, commands) - 1
                for index in first...last {
                    client.enqueue(MQTTMessage(topic: "bench/echo/set", payload: "\(index)", qos: .atLeastOnce))
                }
                if let waiting { try await inbox.next { $0.topic == "bench/echo/state" && $0.payloadString == "\(waiting)" } }
                waiting = last
            }
            if let waiting { try await inbox.next { $0.topic == "bench/echo/state" && $0.payloadString == "\(waiting)" } }
            print("bare echo_commands_per_s \(Int(Double(commands) / (ContinuousClock.now - burst).seconds)) count \(commands)")

            burst = ContinuousClock.now
            var marker: (topic: String, state: String)?
            for (round, first) in stride(from: 0, to: commands, by: window).enumerated() {
                for index in first..<min(first + window, commands) {
                    client.enqueue(
                        MQTTMessage(topic: "gpiobridge/bench/relay/set", payload: index.isMultiple(of: 2) ? "ON" : "OFF", qos: .atLeastOnce))
                }
                let next = (topic: "gpiobridge/bench/marker\(round % 2)", state: (round / 2).isMultiple(of: 2) ? "ON" : "OFF")
                client.enqueue(MQTTMessage(topic: next.topic + "/set", payload: next.state, qos: .atLeastOnce))
                if let marker { try await inbox.next { $0.topic == marker.topic && $0.payloadString == marker.state } }
                marker = next
            }
            if let marker { try await inbox.next { $0.topic == marker.topic && $0.payloadString == marker.state } }
            let rate = Int(Double(commands) / (ContinuousClock.now - burst).seconds)
            // The relay's retained state, sent before the last marker's, must be the last command's.
            let expected = (commands - 1).isMultiple(of: 2) ? "ON" : "OFF"
            _ = try await client.subscribe(to: "gpiobridge/bench/relay", qos: .atMostOnce)
            let right = await inbox.waitFor(timeout: .seconds(5)) {
                $0.topic == "gpiobridge/bench/relay" && $0.retain && $0.payloadString == expected
            }
            print("agent final_state_right \(right ? "yes" : "no") expected \(expected)")
            print("agent commands_per_s \(rate) count \(commands)")
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
