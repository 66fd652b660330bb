import MQTT

/// `gpiobridge pub`: publish one message (or stdin lines) and exit, like mosquitto_pub.
struct PubCommand: Command {
    static let name = "pub"
    static let abstract = "Publish a message to an MQTT broker."
    static let options =
        BrokerOptions.options + [
            .option("-t", value: "TOPIC", help: "Topic to publish to."),
            .option("-m", value: "MESSAGE", help: "Message payload."),
            .flag("-n", help: "Send an empty (null) message."),
            .flag("-l", help: "Send each line of standard input as a message."),
            .flag("-s", help: "Send all of standard input as one message."),
            .option("-q", value: "QOS", help: "QoS: 0, 1 or 2 (default 0)."),
            .flag("-r", help: "Retain the message."),
        ]

    let broker: BrokerOptions
    let topic: String
    let message: String?
    let lines: Bool
    let stdinMessage: Bool
    let qos: QoS
    let retain: Bool

    init(_ arguments: ParsedArguments) throws {
        broker = try BrokerOptions(arguments)
        guard let topic = arguments.string("-t") else { throw UsageError("missing -t TOPIC") }
        guard TopicName.isValid(topic) else { throw UsageError("\"\(topic)\" is not a valid topic name") }
        self.topic = topic
        message = arguments.string("-m")
        lines = arguments.flag("-l")
        stdinMessage = arguments.flag("-s")
        let sources = [message != nil, arguments.flag("-n"), lines, stdinMessage].filter { $0 }.count
        guard sources == 1 else { throw UsageError("give exactly one of -m, -n, -l or -s") }
        qos = try arguments.value("-q", expected: "0, 1 or 2") { UInt8($0).flatMap(QoS.init(rawValue:)) } ?? .atMostOnce
        retain = arguments.flag("-r")
    }

    func run() async throws {
        let client = try MQTTClient(configuration: broker.configuration(command: "pub"), logger: broker.logger("pub"))
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
        let (topic, qos, retain) = (topic, qos, retain)
        try await withConnectedClient(client) {
            for payload in payloads {
                try await client.publish(MQTTMessage(topic: topic, payload: payload, qos: qos, retain: retain))
            }
        }
    }
}
