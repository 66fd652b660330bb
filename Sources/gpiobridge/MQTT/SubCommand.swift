import ArgumentParser
import MQTT

#if canImport(Glibc)
import Glibc
#endif

/// `gpiobridge sub`: print messages from topic filters, like mosquitto_sub.
struct SubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sub",
        abstract: "Subscribe to topics and print the messages that arrive.",
        helpNames: [.long]
    )

    @OptionGroup var broker: BrokerOptions

    @Option(name: .customShort("t"), help: "Topic filter to subscribe to (repeatable).")
    var topics: [String]

    @Option(name: .customShort("q"), help: "QoS of the subscriptions: 0, 1 or 2.")
    var qos: UInt8 = 0

    @Flag(name: .customShort("v"), help: "Print the topic before each payload.")
    var verbose = false

    @Option(name: .customShort("C"), help: "Exit after this many messages.")
    var count: Int?

    @Option(name: .customShort("W"), help: "Exit with code 27 after this many seconds.")
    var timeout: Int?

    @Flag(name: .customLong("retained-only"), help: "Print only retained messages.")
    var retainedOnly = false

    func validate() throws {
        guard QoS(rawValue: qos) != nil else { throw ValidationError("QoS must be 0, 1 or 2") }
        for topic in topics where TopicFilter(topic) == nil {
            throw ValidationError("\"\(topic)\" is not a valid topic filter")
        }
        if let count, count < 1 { throw ValidationError("-C needs a positive count") }
    }

    func run() async throws {
        try await reportingErrors {
            let client = try MQTTClient(configuration: broker.configuration(command: "sub"), logger: broker.logger("sub"))
            let subscriptions = topics.map { Subscription(TopicFilter($0)!, qos: QoS(rawValue: qos)!) }
            let verbose = verbose
            let count = count
            let retainedOnly = retainedOnly
            let timeout = timeout
            let timedOut = try await withConnectedClient(client) { () async throws -> Bool in
                let codes = try await client.subscribe(subscriptions)
                for (subscription, code) in zip(subscriptions, codes) where code.isFailure {
                    throw CLIError("the broker refused the subscription to \(subscription.filter): \(code)")
                }
                return try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        var received = 0
                        for await message in client.messages {
                            if retainedOnly && !message.retain { continue }
                            print(verbose ? "\(message.topic) \(message.payloadString)" : message.payloadString)
                            fflush(nil)
                            received += 1
                            if let count, received >= count { break }
                        }
                        return false
                    }
                    if let timeout {
                        group.addTask {
                            try await Task.sleep(for: .seconds(timeout))
                            return true
                        }
                    }
                    let first = try await group.next() ?? false
                    group.cancelAll()
                    return first
                }
            }
            if timedOut {
                var standardError = StandardError()
                print("Timed out", to: &standardError)
                throw ExitCode(27)
            }
        }
    }
}
