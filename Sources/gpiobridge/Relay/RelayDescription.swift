import Profile
import Relay
import Scheme

extension RelayProfile {
    /// The relay profile resolved, for `profile show`: the brokers, and for each board where its
    /// availability comes from, what each gpiobridge topic is on the board, and the links.
    var resolvedDescription: String {
        func broker(_ settings: BrokerSettings) -> String {
            "\(settings.tls == nil ? "mqtt" : "mqtts")://\(settings.host):\(settings.port) as \(settings.clientID)"
        }
        var lines = ["relay \(id)", "fleet broker:  \(broker(fleet))",
                     "boards broker: \(boardsBroker.map(broker) ?? "the fleet broker")",
                     "buffer: \(bufferCapacity) commands for \(formatProfileDuration(milliseconds: bufferMaximumAgeMilliseconds))",
                     "discover: " + ([discoverTasmota ? "Tasmota" : nil, discoverESPHome ? "ESPHome" : nil].compactMap { $0 }.joined(separator: ", ").nonEmpty ?? "off"),
                     "Home Assistant: " + (homeAssistant.enabled ? "a device per board under \(homeAssistant.prefix)/device/" : "off")]
        for settings in boards {
            let board = BoardDefinition(settings)
            let dialect = board.dialect
            let base = "gpiobridge/\(board.name)"
            lines.append("")
            lines.append("board \(board.name) (\(board.kind.rawValue))")
            lines.append("  \(base)/status  <- " + (board.silenceLimit.map { "its messages; offline after \(formatProfileDuration(milliseconds: Int($0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000))) of silence" }
                ?? (dialect.subscriptions.first { $0.hasSuffix("LWT") || $0.hasSuffix("/status") } ?? "-")))
            for output in dialect.outputs {
                let spelled: String
                switch dialect.command(.set(on: true, pulseMilliseconds: nil), for: output, current: nil) {
                case .send(let messages): spelled = messages.map { "\($0.topic) \($0.payload)" }.joined(separator: "; ")
                case .answerFromRecord, .refused: spelled = "-"
                }
                lines.append("  \(base)/\(output)/set ON  -> \(spelled)")
            }
            for input in dialect.inputs { lines.append("  \(base)/\(input)  (input)") }
            for sensor in dialect.sensors { lines.append("  \(base)/\(sensor)  (value)") }
            lines.append("  watches: \(dialect.subscriptions.joined(separator: ", "))")
        }
        if !links.isEmpty {
            lines.append("")
            for link in links { lines.append("link \(link.fromDevice)/\(link.fromName) -> \(link.toDevice)/\(link.toName)") }
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
