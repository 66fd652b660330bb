import JSON
import MQTT
import Scheme

/// `gpiobridge fleet ls`: every device on the broker, agents and mirrored boards alike.
enum FleetCommand {
    static let group = CommandGroup(
        name: "fleet", abstract: "See the whole fleet: Pi agents, relays and mirrored boards.",
        children: [.command(List.self)])

    struct List: Command {
        static let name = "ls"
        static let abstract = "List every device with its state, last sighting, outputs, inputs and sensors."
        static let discussion = """
            Devices are read from the retained <base topic>/info and /status topics: gpiobridge/<device>
            unless an agent's profile moves its base topic (up to 6 levels). A board is shown offline
            when the relay that mirrors it is offline.
            """
        static let options =
            BrokerOptions.options + [
                .flag("--json", help: "Print JSON instead of a table."),
                .option("--wait", value: "SECONDS", help: "Wait at most this long for the broker's retained messages (default 3)."),
            ]

        let broker: BrokerOptions
        let json: Bool
        let wait: Int

        init(_ arguments: ParsedArguments) throws {
            broker = try BrokerOptions(arguments)
            json = arguments.flag("--json")
            wait = try arguments.value("--wait", expected: "a positive number of seconds") { Int($0).flatMap { $0 > 0 ? $0 : nil } } ?? 3
        }

        func run() async throws {
            let configuration = broker.configuration(command: "fleet")
            let client = try MQTTClient(configuration: configuration, logger: broker.logger("fleet"))
            // After the retained messages, the broker delivers our own message on a topic only we
            // watch: its arrival says every retained message has come.
            let fence = "gpiobridge-fleet-ls/\(configuration.clientID)"
            let wait = wait
            let messages = try await withConnectedClient(client) { () async throws -> [MQTTMessage] in
                try await withThrowingTaskGroup(of: Outcome.self) { group in
                    group.addTask {
                        var collected: [MQTTMessage] = []
                        for await message in client.messages {
                            if message.topic == fence { break }
                            collected.append(message)
                        }
                        return .collected(collected)
                    }
                    // The limit runs from the start: a subscription or publish never answered must not hang.
                    group.addTask {
                        try await Task.sleep(for: .seconds(wait))
                        return .timedOut
                    }
                    group.addTask {
                        let filters = (DeviceTopics.fleetFilters + [fence]).compactMap { TopicFilter($0) }
                        let codes = try await client.subscribe(filters.map { Subscription($0, qos: .atLeastOnce) })
                        for (filter, code) in zip(filters, codes) where code.isFailure {
                            throw CLIError("the broker refused the subscription to \(filter): \(code)")
                        }
                        try await client.publish(to: fence, payload: "", qos: .atLeastOnce)
                        return .asked
                    }
                    while let outcome = try await group.next() {
                        switch outcome {
                        case .asked: continue
                        case .timedOut: throw CLIError("the broker sent no end of its retained messages within \(wait) s; try --wait")
                        case .collected(let messages):
                            group.cancelAll()
                            return messages
                        }
                    }
                    throw CLIError("the connection ended before the broker's retained messages came")
                }
            }
            let fleet = Fleet(messages: messages.map { ($0.topic, $0.payloadString) }, now: unixTimeNow())
            printOut(json ? fleet.json.serialized : fleet.table)
        }
    }
}

private enum Outcome: Sendable {
    case collected([MQTTMessage])
    case asked
    case timedOut
}

/// The fleet as read from the retained info and status topics.
struct Fleet {
    struct Device {
        var id: String
        /// The base topic: `gpiobridge/<id>` unless an agent's profile moved it.
        var base: String
        var info: DeviceInfo?
        /// The status topic's word: online, offline, or nil when there is none.
        var status: String?
        /// Offline because the relay mirroring it is offline, whatever the board's own status.
        var relayOffline = false

        var online: Bool { status == SchemeWord.online && !relayOffline }
    }

    var devices: [Device]
    let now: Int

    /// Devices under `gpiobridge/` are listed with an info or a status; elsewhere only with a
    /// gpiobridge info, since other software publishes `status` topics too.
    init(messages: [(topic: String, payload: String)], now: Int) {
        self.now = now
        var byBase: [String: Device] = [:]
        for (topic, payload) in messages where !payload.isEmpty {
            let isInfo = topic.hasSuffix("/info")
            guard isInfo || topic.hasSuffix("/status") else { continue }
            let base = String(topic.dropLast(isInfo ? 5 : 7))
            var device = byBase[base] ?? Device(id: DeviceTopics.parse(topic).map { String($0.device) } ?? base, base: base)
            if isInfo {
                device.info = (try? JSONValue(parsing: payload)).flatMap(DeviceInfo.init(json:))
                if let id = device.info?.id { device.id = id }
            } else {
                device.status = payload
            }
            byBase[base] = device
        }
        let listed = byBase.values.filter { DeviceTopics.parse($0.base + "/info")?.rest == "info" || $0.info != nil }
        let statusByID = Dictionary(listed.map { ($0.id, $0.status) }, uniquingKeysWith: { first, _ in first })
        devices = listed.map { device in
            var device = device
            if let via = device.info?.via, statusByID[via] != SchemeWord.online { device.relayOffline = true }
            return device
        }.sorted { ($0.id, $0.base) < ($1.id, $1.base) }
    }

    /// One line per device, columns aligned.
    var table: String {
        guard !devices.isEmpty else {
            return "no devices: nothing has published gpiobridge/<device>/info or /status (or a gpiobridge info elsewhere) on this broker"
        }
        var rows = [["DEVICE", "KIND", "STATE", "LAST SEEN", "VIA", "OUTPUTS", "INPUTS", "SENSORS"]]
        for device in devices {
            let info = device.info
            let state = device.relayOffline && device.status == SchemeWord.online ? "offline (relay)" : device.status ?? "unknown"
            rows.append([
                device.id, info?.kind ?? "?", state, lastSeen(device), info?.via ?? "-", list(info?.outputs), list(info?.inputs),
                list(info?.sensors),
            ])
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max()! }
        return rows.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(to: widths[column])
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    var json: JSONValue {
        func strings(_ names: [String]?) -> JSONValue { .array((names ?? []).map { .string($0) }) }
        func optional(_ text: String?) -> JSONValue { text.map { .string($0) } ?? .null }
        return .array(
            devices.map { device in
                let info = device.info
                var seen = JSONValue.null
                if let info, info.seen > 0 { seen = .number(Double(info.seen)) }
                return .object([
                    "device": .string(device.id), "kind": optional(info?.kind), "name": optional(info?.name),
                    "online": .bool(device.online), "status": optional(device.status), "seen": seen, "via": optional(info?.via),
                    "outputs": strings(info?.outputs), "inputs": strings(info?.inputs), "sensors": strings(info?.sensors),
                    "base_topic": .string(device.base),
                ])
            })
    }

    private func list(_ names: [String]?) -> String {
        guard let names, !names.isEmpty else { return "-" }
        return names.joined(separator: ",")
    }

    private func lastSeen(_ device: Device) -> String {
        if device.online { return "now" }
        guard let seen = device.info?.seen, seen > 0 else { return "never" }
        let age = max(0, now - seen)
        switch age {
        case ..<60: return "\(age) s ago"
        case ..<3600: return "\(age / 60) min ago"
        case ..<86_400: return "\(age / 3600) h ago"
        default: return "\(age / 86_400) d ago"
        }
    }
}
