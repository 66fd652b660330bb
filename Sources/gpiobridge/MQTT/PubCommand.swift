import ArgumentParser
import MQTT

/// `gpiobridge pub`: publish one message (or stdin lines) and exit, like mosquitto_pub.
struct PubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pub",
        abstract: "Publish a message to an MQTT broker.",
        helpNames: [.long]
    )

    @OptionGroup var broker: BrokerOptions

    @Option(name: .customShort("t"), help: "Topic to publish to.")
    var topic: String

    @Option(name: .customShort("m"), help: "Message payload.")
    var message: String?

    @Flag(name: .customShort("n"), help: "Send an empty (null) message.")
    var nullMessage = false

    @Flag(name: .customShort("l"), help: "Send each line of standard input as a message.")
    var lines = false

    @Flag(name: .customShort("s"), help: "Send all of standard input as one message.")
    var stdinMessage = false

    @Option(name: .customShort("q"), help: "QoS: 0, 1 or 2.")
    var qos: UInt8 = 0

    @Flag(name: .customShort("r"), help: "Retain the message.")
    var retain = false

    func validate() throws {
        let sources = [message != nil, nullMessage, lines, stdinMessage].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give exactly one of -m, -n, -l or -s") }
        guard QoS(rawValue: qos) != nil else { throw ValidationError("QoS must be 0, 1 or 2") }
        guard TopicName.isValid(topic) else { throw ValidationError("\"\(topic)\" is not a valid topic name") }
    }

    func run() async throws {
        try await reportingErrors {
            let client = try MQTTClient(configuration: broker.configuration(command: "pub"), logger: broker.logger("pub"))
            let qos = QoS(rawValue: qos)!
            let topic = topic
            let retain = retain
            let payloads: [String]
            if lines {
                var read: [String] = []
                while let line = readLine() { read.append(line) }
                payloads = read
            } else if stdinMessage {
                var text = ""
                while let line = readLine(strippingNewline: false) { text += line }
                payloads = [text]
            } else {
                payloads = [message ?? ""]
            }
            try await withConnectedClient(client) {
                for payload in payloads {
                    try await client.publish(MQTTMessage(topic: topic, payload: payload, qos: qos, retain: retain))
                }
            }
        }
    }
}
