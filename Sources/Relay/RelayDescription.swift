import Profile
import Scheme

extension RelayProfile {
    /// The relay profile resolved, for `profile show`: a relay profile with every default filled
    /// in (`profile validate` accepts it, and it means the same), with each board's topics spelled
    /// out in comments: where its availability comes from and what a command becomes on the board.
    public var resolvedDescription: String {
        var lines = ["# \(source), resolved: every default filled in", "relay:", "  id: \(yamlScalar(id))", "fleet:"]
        lines += fleet.resolvedLines()
        if let boardsBroker {
            lines.append("boards_broker:")
            lines += boardsBroker.resolvedLines()
        } else {
            lines.append("# boards_broker: the fleet broker")
        }
        lines.append(boards.isEmpty ? "boards: []" : "boards:")
        for settings in boards {
            lines.append("  - name: \(yamlScalar(settings.name))")
            lines += flavourLines(settings.flavour)
            lines += routeComments(BoardDefinition(settings))
        }
        lines += [
            "discover:", "  tasmota: \(discoverTasmota)", "  esphome: \(discoverESPHome)",
            "  max_boards: \(maximumDiscoveredBoards)    # boards mirrored from announcements, at most",
        ]
        lines += [
            "buffer:    # commands for an unavailable board wait this long, this many",
            "  commands: \(bufferCapacity)", "  max_age: \(formatProfileDuration(milliseconds: bufferMaximumAgeMilliseconds))",
        ]
        lines += ["discovery:", "  enabled: \(homeAssistant.enabled)", "  prefix: \(yamlScalar(homeAssistant.prefix))"]
        lines.append(links.isEmpty ? "links: []" : "links:")
        for link in links {
            lines.append("  - {from: \(yamlScalar("\(link.fromDevice)/\(link.fromName)")), to: \(yamlScalar("\(link.toDevice)/\(link.toName)"))}")
        }
        return lines.joined(separator: "\n")
    }

    private func flavourLines(_ flavour: BoardFlavour) -> [String] {
        /// A sensor's unit and class, when the profile gives them: `, unit: °F, device_class: temperature`.
        func sensorClass(_ unit: String?, _ deviceClass: String?) -> String {
            (unit.map { ", unit: \(yamlScalar($0))" } ?? "") + (deviceClass.map { ", device_class: \(yamlScalar($0))" } ?? "")
        }
        func names(_ key: String, _ names: [MirroredName], boardKey: String = "") -> String {
            let entries = names.map { name in
                let described =
                    sensorClass(name.unit, name.deviceClass) + (name.stateTopic.map { ", state_topic: \(yamlScalar($0))" } ?? "")
                    + (name.commandTopic.map { ", command_topic: \(yamlScalar($0))" } ?? "")
                return described.isEmpty
                    ? "\(yamlScalar(name.name)): \(yamlScalar(name.board))"
                    : "\(yamlScalar(name.name)): {\(boardKey): \(yamlScalar(name.board))\(described)}"
            }
            return "      \(key): {\(entries.joined(separator: ", "))}"
        }
        func words(_ key: String, _ topics: [PlainTopic]) -> String {
            "      \(key): {\(topics.map { "\(yamlScalar($0.name)): {topic: \(yamlScalar($0.topic)), on: \(yamlScalar($0.on)), off: \(yamlScalar($0.off))}" }.joined(separator: ", "))}"
        }
        switch flavour {
        case .tasmota(let topic, let fullTopic, let relays, let sensors):
            return [
                "    tasmota:", "      topic: \(yamlScalar(topic))", "      full_topic: \(yamlScalar(fullTopic))",
                names("relays", relays), names("sensors", sensors, boardKey: "field"),
            ]
        case .esphome(let prefix, let switches, let binarySensors, let sensors, let silence):
            return [
                "    esphome:", "      node: \(yamlScalar(prefix))", "      prefix: \(yamlScalar(prefix))",
                names("switches", switches, boardKey: "id"), names("binary_sensors", binarySensors, boardKey: "id"),
                names("sensors", sensors, boardKey: "id"),
            ]
                + (silence.map { ["      silence: \(formatProfileDuration(milliseconds: $0))"] } ?? [])
        case .pubsubclient(let interval, let silentIntervals, let values, let inputs, let commands, let match):
            let valueEntries = values.map { value in
                "\(yamlScalar(value.name)): {topic: \(yamlScalar(value.topic))"
                    + (value.jsonPath.isEmpty ? "" : ", json: \(yamlScalar(value.jsonPath.joined(separator: ".")))")
                    + sensorClass(value.unit, value.deviceClass) + "}"
            }
            return [
                "    pubsubclient:", "      interval: \(formatProfileDuration(milliseconds: interval))", "      silent_intervals: \(silentIntervals)",
                "      values: {\(valueEntries.joined(separator: ", "))}", words("inputs", inputs), words("commands", commands),
            ]
                + (match.map { ["      match: {json: \(yamlScalar($0.path.joined(separator: "."))), equals: \(yamlScalar($0.value))}"] } ?? [])
        }
    }

    /// Each gpiobridge topic of the board and what it is on the board, as comments.
    private func routeComments(_ board: BoardDefinition) -> [String] {
        let dialect = board.dialect
        let base = "gpiobridge/\(board.name)"
        var lines: [String] = []
        if let limit = board.silenceLimit {
            let milliseconds = Int(limit.components.seconds * 1000 + limit.components.attoseconds / 1_000_000_000_000_000)
            lines.append("    # \(base)/status  <- its messages; offline after \(formatProfileDuration(milliseconds: milliseconds)) of silence")
        } else {
            lines.append("    # \(base)/status  <- " + (dialect.subscriptions.first { $0.hasSuffix("LWT") || $0.hasSuffix("/status") } ?? "-"))
        }
        for output in dialect.outputs {
            let spelled: String
            switch dialect.command(.set(on: true, pulseMilliseconds: nil), for: output, current: nil) {
            case .send(let messages): spelled = messages.map { "\($0.topic) \($0.payload)" }.joined(separator: "; ")
            case .answerFromRecord, .refused: spelled = "-"
            }
            lines.append("    # \(base)/\(output)/set ON  -> \(spelled)")
        }
        for input in dialect.inputs { lines.append("    # \(base)/\(input)  (input)") }
        for sensor in dialect.sensors { lines.append("    # \(base)/\(sensor)  (value)") }
        lines.append("    # watches: \(dialect.subscriptions.joined(separator: ", "))")
        return lines
    }
}
