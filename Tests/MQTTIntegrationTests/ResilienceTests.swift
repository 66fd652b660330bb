import Foundation
import Logging
import MQTT
import NIOCore
import ServiceLifecycle
import Testing

/// Failures of the broker and the link, with a real Mosquitto.
@Suite("Mosquitto: restarts, half-open links, wills, shutdown", .needsMosquitto)
struct ResilienceTests {
    @Test("a broker restart with persistence while QoS 1 and 2 messages are in flight loses nothing and duplicates no QoS 2 message")
    func brokerRestart() async throws {
        try await withMosquitto { broker in
            // Persistent sessions from the first connection on: mosquitto 2.0.11 does not restore, after a
            // restart, a session that began with Clean Start 1 while it was connected.
            var publisherConfiguration = clientConfiguration(port: broker.ports.plain, "restart-pub")
            publisherConfiguration.sessionExpiry = 300
            publisherConfiguration.cleanStart = false
            var subscriberConfiguration = clientConfiguration(port: broker.ports.plain, "restart-sub")
            subscriberConfiguration.sessionExpiry = 300
            subscriberConfiguration.cleanStart = false
            let publisher = try MQTTClient(configuration: publisherConfiguration, logger: testLogger("pub"))
            let subscriber = try MQTTClient(configuration: subscriberConfiguration, logger: testLogger("sub"))
            let inbox = Inbox(subscriber)
            let count = 400
            try await withRunningClients([publisher, subscriber]) {
                _ = try await subscriber.subscribe([Subscription(TopicFilter("test/restart/#")!, qos: .exactlyOnce)])
                let publishing = Task {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for index in 0..<count {
                            let qos: QoS = index.isMultiple(of: 2) ? .atLeastOnce : .exactlyOnce
                            group.addTask {
                                try await publisher.publish(to: "test/restart/q\(qos.rawValue)", payload: "\(index)", qos: qos)
                            }
                            if index.isMultiple(of: 20) { try await Task.sleep(for: .milliseconds(10)) }
                        }
                        try await group.waitForAll()
                    }
                }
                // Restart while the burst is under way.
                try await inbox.wait(for: 40)
                await broker.stop()
                try await broker.start()
                try await withTimeout(.seconds(30), "every publish to complete") { try await publishing.value }

                let expected = Set((0..<count).map { "\($0)" })
                let deadline = ContinuousClock.now + .seconds(15)
                while Set(inbox.messages.map(\.payloadString)) != expected && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                let received = inbox.messages
                #expect(Set(received.map(\.payloadString)) == expected, "lost: \(expected.subtracting(received.map(\.payloadString)).sorted())")
                let qos2 = received.filter { $0.topic == "test/restart/q2" }.map(\.payloadString)
                #expect(qos2.count == Set(qos2).count, "QoS 2 messages delivered twice: \(qos2.count - Set(qos2).count)")
            }
        }
    }

    @Test("a frozen broker (SIGSTOP) is detected within 1.5 × keep alive, and the client reconnects when it thaws")
    func halfOpen() async throws {
        try await withMosquitto { broker in
            var configuration = clientConfiguration(port: broker.ports.plain, "halfopen")
            configuration.keepAlive = 2
            let client = try MQTTClient(configuration: configuration, logger: testLogger("halfopen"))
            try await withRunningClients([client]) {
                let states = client.connectionStates()
                broker.pause()
                let frozenAt = ContinuousClock.now
                let error = try await withTimeout(.seconds(10), "half-open detection") {
                    for await state in states {
                        if case .waitingToReconnect(_, let error) = state { return error }
                    }
                    throw HarnessError("stream ended")
                }
                let detectedAfter = ContinuousClock.now - frozenAt
                guard case .keepAliveTimedOut = error else {
                    Issue.record("expected a keep-alive timeout, got \(error)")
                    return
                }
                #expect(detectedAfter <= .seconds(3), "detected after \(detectedAfter); 1.5 × keep alive is 3 s")
                broker.resume()
                try await client.waitUntilConnected(timeout: .seconds(15))
            }
        }
    }

    @Test("DISCONNECT 0x00 discards the will; DISCONNECT 0x04 and a dropped connection publish it", arguments: [MQTTVersion.v5, .v3_1_1])
    func will(version: MQTTVersion) async throws {
        try await withMosquitto { broker in
            let watcher = try MQTTClient(
                configuration: clientConfiguration(port: broker.ports.auth, "watcher") {
                    $0.username = "alice"
                    $0.password = "secret"
                }, logger: testLogger("watcher"))
            let inbox = Inbox(watcher)
            @Sendable func device(_ name: String) throws -> MQTTClient {
                try MQTTClient(
                    configuration: clientConfiguration(port: broker.ports.auth, name) {
                        $0.version = version
                        $0.username = "alice"
                        $0.password = "secret"
                        $0.will = WillMessage(
                            topic: "gpiobridge/\(name)/status", payload: ByteBuffer(string: "offline"),
                            qos: .atLeastOnce, retain: false)
                    }, logger: testLogger(name))
            }
            try await withRunningClients([watcher]) {
                _ = try await watcher.subscribe(to: "gpiobridge/+/status")
                let graceful = try device("graceful")
                try await withRunningClients([graceful]) {}
                // Another client taking its id over makes the broker drop it: no DISCONNECT, so the
                // will goes out. (The client then reconnects and takes its id back.)
                let dropped = try device("dropped")
                try await withRunningClients([dropped]) {
                    let thief = try await runProgram(
                        "/usr/bin/mosquitto_pub",
                        [
                            "-h", "127.0.0.1", "-p", "\(broker.ports.auth)", "-u", "alice", "-P", "secret",
                            "-i", dropped.configuration.clientID, "-t", "test/takeover", "-m", "x",
                        ])
                    #expect(thief.status == 0, "\(thief.output)")
                    try await inbox.wait(for: 1)
                    try await dropped.waitUntilConnected()
                }
                let withWill = try device("farewell")
                try await withRunningClients([withWill]) {
                    withWill.stop(sendingWill: true)
                    try await inbox.wait(for: 2)
                }
                try await Task.sleep(for: .milliseconds(300))
                #expect(inbox.messages.map(\.topic) == ["gpiobridge/dropped/status", "gpiobridge/farewell/status"])
            }
        }
    }

    @Test("graceful shutdown of a ServiceGroup stops the client: DISCONNECT sent, run() returns, state stopped")
    func serviceGroupShutdown() async throws {
        try await withMosquitto { broker in
            let client = try MQTTClient(
                configuration: clientConfiguration(port: broker.ports.plain, "service"),
                logger: testLogger("service"))
            let group = ServiceGroup(configuration: .init(services: [client], logger: testLogger("group")))
            let states = client.connectionStates()
            let running = Task { try await group.run() }
            try await client.waitUntilConnected()
            await group.triggerGracefulShutdown()
            try await withTimeout(.seconds(10), "the group to finish") { try await running.value }
            var seen: [String] = []
            for await state in states { seen.append("\(state)") }
            #expect(seen.last == "stopped")
            try await Task.sleep(for: .milliseconds(200))
            #expect(
                broker.log.contains("Client \(client.configuration.clientID) disconnected."),
                "mosquitto logs a clean DISCONNECT as 'disconnected.'")
        }
    }

    @Test("one log line per failed attempt, naming the cause, with growing delays and no stack trace")
    func reconnectLogging() async throws {
        let port = try freePort()
        let log = CapturedLog()
        let client = try MQTTClient(
            configuration: clientConfiguration(
                port: port, "nobody",
                reconnect: .exponentialBackoff(
                    initial: .milliseconds(20), maximum: .milliseconds(200))), logger: log.logger(level: .info))
        let states = client.connectionStates()
        try await withRunningClients([client], waitForConnection: false) {
            var delays: [Duration] = []
            for await state in states {
                if case .waitingToReconnect(let delay, _) = state { delays.append(delay) }
                if delays.count == 4 { break }
            }
            #expect(delays[3] > delays[0])
        }
        let failures = log.all.filter { $0.level == .error }
        #expect(failures.count >= 4)
        for failure in failures {
            #expect(failure.message.contains("connection refused"))
            #expect(!failure.message.contains("\n"))
        }
    }

    @Test("amqtt, a 3.1.1-only broker that ignores a 5.0 CONNECT: auto mode keeps 5.0 (silence is no refusal); 3.1.1 connects")
    func fallbackAgainstAmqtt() async throws {
        let amqtt = packageRoot + "/.build-amqtt/bin/amqtt"
        guard FileManager.default.isExecutableFile(atPath: amqtt) else {
            Issue.record("amqtt is not installed at \(amqtt): run scripts/setup.sh")
            return
        }
        let port = try freePort()
        let directory = NSTemporaryDirectory() + "gpiobridge-amqtt-\(port)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = """
            listeners:
              default:
                type: tcp
                bind: 127.0.0.1:\(port)
            plugins:
              amqtt.plugins.authentication.AnonymousAuthPlugin:
                allow_anonymous: true
            """
        try config.write(toFile: directory + "/broker.yaml", atomically: true, encoding: .utf8)
        let process = try ChildProcess(amqtt, ["-c", directory + "/broker.yaml"], outputPath: directory + "/amqtt.log")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let deadline = ContinuousClock.now + .seconds(20)
            while !isListening(port) {
                guard ContinuousClock.now < deadline, process.isRunning else { throw HarnessError("amqtt did not start") }
                try await Task.sleep(for: .milliseconds(20))
            }
            // amqtt never answers a 5.0 CONNECT with properties: no CONNACK, no refusal, so no
            // fallback; every attempt stays 5.0, and the log says what to set.
            var automatic = clientConfiguration(port: port, "auto")
            automatic.connectTimeout = .milliseconds(500)
            let log = CapturedLog()
            let auto = try MQTTClient(configuration: automatic, logger: log.logger("auto", level: .info))
            try await withRunningClients([auto], waitForConnection: false) {
                try await eventually("two attempts without CONNACK") {
                    log.all.filter { $0.message.contains("no CONNACK to an MQTT 5.0 CONNECT") }.count >= 2
                }
                #expect(log.all.contains { $0.message.contains("set protocol: 3.1.1") })
                #expect(!log.all.contains { $0.message.contains("using MQTT 3.1.1") })
            }
            var configuration = clientConfiguration(port: port, "v311", version: .v3_1_1)
            configuration.fallbackToV3_1_1 = false
            let client = try MQTTClient(configuration: configuration, logger: testLogger("v311"))
            let inbox = Inbox(client)
            try await withRunningClients([client]) {
                guard case .connected(let info) = try await client.waitForState("connected", { $0.isConnected }) else { return }
                #expect(info.version == .v3_1_1)
                _ = try await client.subscribe(to: "test/fallback", qos: .atLeastOnce)
                try await client.publish(to: "test/fallback", payload: "via 3.1.1", qos: .atLeastOnce)
                #expect(try await inbox.wait(for: 1).first?.payloadString == "via 3.1.1")
            }
        } catch {
            await process.terminate()
            throw error
        }
        await process.terminate()
    }

    @Test("stop() while the first connection is being made ends run(): it never connects after the stop")
    func stopDuringConnect() async throws {
        try await withMosquitto { broker in
            for round in 0..<20 {
                let client = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "early-stop"), logger: testLogger("early"))
                try await withTimeout(.seconds(5), "run() to return after stop() in round \(round)") {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await client.run() }
                        if round % 2 == 1 { await Task.yield() }
                        client.stop()
                        try await group.waitForAll()
                    }
                }
            }
        }
    }

}

/// `clientConfiguration` with adjustments.
func clientConfiguration(port: Int, _ name: String, _ adjust: (inout MQTTClientConfiguration) -> Void) -> MQTTClientConfiguration {
    var configuration = clientConfiguration(port: port, name)
    adjust(&configuration)
    return configuration

}
