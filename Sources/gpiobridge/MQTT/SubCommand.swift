import MQTT

#if canImport(Glibc)
import Glibc
#endif

/// `gpiobridge sub`: print messages from topic filters, like mosquitto_sub.
struct SubCommand: Command {
    static let name = "sub"
    static let abstract = "Subscribe to topics and print the messages that arrive."
    static let options =
        BrokerOptions.options + [
            .option("-t", value: "FILTER", help: "Topic filter to subscribe to (repeatable)."),
            .option("-q", value: "QOS", help: "QoS of the subscriptions: 0, 1 or 2 (default 0)."),
            .flag("-v", help: "Print the topic before each payload."),
            .option("-C", value: "COUNT", help: "Exit after this many messages."),
            .option("-W", value: "SECONDS", help: "Exit with code 27 after this many seconds."),
            .flag("--retained-only", help: "Print only retained messages."),
        ]

    let broker: BrokerOptions
    let filters: [TopicFilter]
    let qos: QoS
    let verbose: Bool
    let count: Int?
    let timeout: Int?
    let retainedOnly: Bool

    init(_ arguments: ParsedArguments) throws {
        broker = try BrokerOptions(arguments)
        let topics = arguments.strings("-t")
        guard !topics.isEmpty else { throw UsageError("missing -t FILTER") }
        filters = try topics.map { topic in
            guard let filter = TopicFilter(topic) else { throw UsageError("\"\(topic)\" is not a valid topic filter") }
            return filter
        }
        qos = try arguments.value("-q", expected: "0, 1 or 2") { UInt8($0).flatMap(QoS.init(rawValue:)) } ?? .atMostOnce
        verbose = arguments.flag("-v")
        count = try arguments.value("-C", expected: "a positive count") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
        timeout = try arguments.value("-W", expected: "a positive number of seconds") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
        retainedOnly = arguments.flag("--retained-only")
    }

    func run() async throws {
        let client = try MQTTClient(configuration: broker.configuration(command: "sub"), logger: broker.logger("sub"))
        let subscriptions = filters.map { Subscription($0, qos: qos) }
        let (verbose, count, retainedOnly, timeout) = (verbose, count, retainedOnly, timeout)
        // -W counts from the start: connecting and subscribing are inside it too.
        let timedOut = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await withConnectedClient(client) { () async throws -> Bool in
                    let codes = try await client.subscribe(subscriptions)
                    for (subscription, code) in zip(subscriptions, codes) where code.isFailure {
                        throw CLIError("the broker refused the subscription to \(subscription.filter): \(code)")
                    }
                    var received = 0
                    for await message in client.messages {
                        if retainedOnly && !message.retain { continue }
                        if let size = message.skippedPacketSize {
                            printOut("(skipped a message of \(size) bytes on \(message.topic): over the 1 MiB limit)", error: true)
                            continue
                        }
                        print(verbose ? "\(message.topic) \(message.payloadString)" : message.payloadString)
                        fflush(nil)
                        received += 1
                        if let count, received >= count { break }
                    }
                    return false
                }
            }
            if let timeout {
                group.addTask {
                    try await Task.sleep(for: .seconds(timeout))
                    return true
                }
            }
            let first = try await group.next() ?? false
            if first { client.stop() }
            group.cancelAll()
            return first
        }
        if timedOut {
            printOut("Timed out", error: true)
            throw ExitStatus(27)
        }
    }
}
