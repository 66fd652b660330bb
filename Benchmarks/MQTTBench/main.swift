import Logging
import MQTT
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

// Prints the client's figures against a broker on 127.0.0.1: round-trip latency (one client
// publishing to a topic it subscribes to, one message in flight) and throughput (one publisher,
// one subscriber). scripts/bench-mqtt.sh runs it beside the bare broker's own figures.
//
// usage: mqtt-bench PORT [LATENCY_SAMPLES] [QOS0_MESSAGES] [QOS1_MESSAGES]

let arguments = CommandLine.arguments
guard arguments.count >= 2, let port = Int(arguments[1]) else {
    print("usage: mqtt-bench PORT [LATENCY_SAMPLES] [QOS0_MESSAGES] [QOS1_MESSAGES]")
    exit(2)
}
let bench = Bench(
    port: port,
    samples: arguments.count > 2 ? Int(arguments[2]) ?? 2000 : 2000,
    qos0Messages: arguments.count > 3 ? Int(arguments[3]) ?? 50000 : 50000,
    qos1Messages: arguments.count > 4 ? Int(arguments[4]) ?? 20000 : 20000)

let latency0 = try await bench.latency(qos: .atMostOnce)
print("gpiobridge rtt qos0 p50_us \(Int(latency0.p50)) p99_us \(Int(latency0.p99))")
let latency1 = try await bench.latency(qos: .atLeastOnce)
print("gpiobridge rtt qos1 p50_us \(Int(latency1.p50)) p99_us \(Int(latency1.p99))")
print("gpiobridge throughput qos0 msgs_per_s \(Int(try await bench.throughput(qos: .atMostOnce, count: bench.qos0Messages)))")
print("gpiobridge throughput qos1 msgs_per_s \(Int(try await bench.throughput(qos: .atLeastOnce, count: bench.qos1Messages)))")
print("gpiobridge peak_rss_kb \(Bench.peakRSS())")

struct Bench: Sendable {
    let port: Int
    let samples: Int
    let qos0Messages: Int
    let qos1Messages: Int
    let payload = ByteBuffer(string: "0123456789abcdef")

    func client(_ name: String) throws -> MQTTClient {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: port, clientID: "bench-\(name)-\(getpid())")
        configuration.maximumQueuedMessages = 1_000_000
        return try MQTTClient(configuration: configuration, logger: logger)
    }

    /// Runs `body` with connected clients, then stops them.
    static func withClients<T: Sendable>(_ clients: [MQTTClient], _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            for client in clients {
                group.addTask {
                    try await client.run()
                    return nil
                }
            }
            group.addTask {
                for client in clients {
                    for await state in client.connectionStates() where state.isConnected { break }
                }
                let result = try await body()
                for client in clients { client.stop() }
                return result
            }
            var result: T?
            while let next = try await group.next() {
                if let next { result = next }
            }
            return result!
        }
    }

    static func percentile(_ sorted: [Duration], _ fraction: Double) -> Double {
        let index = min(sorted.count - 1, Int(Double(sorted.count) * fraction))
        let (seconds, attoseconds) = sorted[index].components
        return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
    }

    func latency(qos: QoS) async throws -> (p50: Double, p99: Double) {
        let echo = try client("rtt\(qos.rawValue)")
        return try await Bench.withClients([echo]) {
            let topic = "bench/rtt/\(getpid())/\(qos.rawValue)"
            _ = try await echo.subscribe(to: topic, qos: qos)
            var messages = echo.messages.makeAsyncIterator()
            var results: [Duration] = []
            results.reserveCapacity(samples)
            let clock = ContinuousClock()
            for index in 0..<(samples + samples / 10) {
                let start = clock.now
                try await echo.publish(MQTTMessage(topic: topic, payload: payload, qos: qos))
                _ = await messages.next()
                if index >= samples / 10 { results.append(clock.now - start) }  // the first tenth warms up
            }
            results.sort()
            return (Bench.percentile(results, 0.5), Bench.percentile(results, 0.99))
        }
    }

    func throughput(qos: QoS, count: Int) async throws -> Double {
        let publisher = try client("pub\(qos.rawValue)")
        let subscriber = try client("sub\(qos.rawValue)")
        return try await Bench.withClients([publisher, subscriber]) {
            let topic = "bench/throughput/\(getpid())/\(qos.rawValue)"
            _ = try await subscriber.subscribe(to: topic, qos: qos)
            let clock = ContinuousClock()
            let start = clock.now
            // A broker may drop QoS 1 messages past its queue (stock Mosquitto keeps 1,000 per
            // client): the count then never comes, and the figure is what arrived in a minute.
            let receiving = Task {
                var received = 0
                for await _ in subscriber.messages {
                    received += 1
                    if received == count { break }
                }
                return received
            }
            let limit = Task {
                try await Task.sleep(for: .seconds(60))
                receiving.cancel()
            }
            defer { limit.cancel() }
            // Keep up to 1000 publishes outstanding: QoS 1 waits for PUBACKs within the broker's Receive Maximum.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<count {
                    if index >= 1000 { try await group.next() }
                    group.addTask { try await publisher.publish(MQTTMessage(topic: topic, payload: payload, qos: qos)) }
                }
                try await group.waitForAll()
            }
            let got = await receiving.value
            if got < count { print("note: \(count - got) of \(count) QoS \(qos.rawValue) messages did not arrive") }
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return Double(got) / seconds
        }
    }

    static func peakRSS() -> Int {
        guard let file = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix("VmHWM:") {
                return Int(text.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
            }
        }
        return 0
    }
}
