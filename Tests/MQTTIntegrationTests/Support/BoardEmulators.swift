import Foundation
import MQTT
import NIOCore

/// ESP8266 firmware as the relay meets it on a broker, speaking each flavour's exact topics and
/// payloads. Each emulator is one MQTT 3.1.1 client, as the boards are.

/// Tasmota: `cmnd/<t>/POWERn` in any case, `STATE`, `Backlog`; `stat/<t>/RESULT` and
/// `stat/<t>/POWERn` out; `tele/<t>/LWT` Online on connect and Offline as the will, retained.
final class TasmotaBoard: Sendable {
    let topic: String
    let client: MQTTClient
    /// SetOption26: a single relay is still called POWER1.
    let setOption26: Bool
    private let power: Locked<[Bool]>
    private let received = Locked<[String]>([])
    private let queries = Locked(0)
    private let tasks: Locked<[Task<Void, Never>]> = Locked([])

    init(topic: String, port: Int, relays: Int = 1, setOption26: Bool = false) throws {
        self.topic = topic
        self.setOption26 = setOption26
        power = Locked(Array(repeating: false, count: relays))
        var configuration = clientConfiguration(port: port, "DVES_\(topic.suffix(6))", version: .v3_1_1)
        configuration.fallbackToV3_1_1 = false
        configuration.will = WillMessage(topic: "tele/\(topic)/LWT", payload: ByteBuffer(string: "Offline"), qos: .atLeastOnce, retain: true)
        client = try MQTTClient(configuration: configuration, logger: testLogger("tasmota"))
        let states = client.connectionStates()
        tasks.withLock { tasks in
            tasks.append(
                Task { [self] in
                    for await state in states where state.isConnected {
                        _ = try? await client.subscribe(to: "cmnd/\(topic)/#", qos: .atMostOnce)
                        try? await client.publish(to: "tele/\(topic)/LWT", payload: "Online", qos: .atLeastOnce, retain: true)
                    }
                })
            tasks.append(
                Task { [self] in
                    for await message in client.messages { await handle(message.topic, message.payloadString) }
                })
        }
    }

    /// Every command as `<COMMAND as sent> <payload>`, in order, except STATE queries.
    var commands: [String] { received.value }
    /// How many times the board was asked for its state (STATE).
    var stateQueries: Int { queries.value }
    var relays: [Bool] { power.value }

    private func key(_ index: Int) -> String { power.value.count == 1 && !setOption26 ? "POWER" : "POWER\(index)" }

    private func handle(_ messageTopic: String, _ payload: String) async {
        let command = String(messageTopic.split(separator: "/").last ?? "")
        if command.uppercased() == "STATE" {
            queries.withLock { $0 += 1 }
        } else {
            received.withLock { $0.append("\(command) \(payload)") }
        }
        await execute(command, payload)
    }

    private func execute(_ command: String, _ payload: String) async {
        let upper = command.uppercased()
        if upper == "BACKLOG" {
            for step in payload.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                let parts = step.split(separator: " ", maxSplits: 1).map(String.init)
                if parts.first?.uppercased() == "DELAY", let tenths = Int(parts.last ?? "") {
                    try? await Task.sleep(for: .milliseconds(tenths * 100))
                } else if let name = parts.first {
                    await execute(name, parts.count > 1 ? parts[1] : "")
                }
            }
            return
        }
        if upper == "STATE" {
            // Tasmota's STATE answer: time, uptime and Wi-Fi around the POWERn states.
            let members = power.value.indices.map { "\"\(key($0 + 1))\":\"\(power.value[$0] ? "ON" : "OFF")\"" }
            let payload =
                #"{"Time":"2026-11-27T10:00:00","Uptime":"0T01:02:03","Heap":25,"LoadAvg":19,"#
                + members.joined(separator: ",") + #","Wifi":{"AP":1,"SSId":"lan","RSSI":62,"Signal":-69}}"#
            try? await client.publish(to: "stat/\(topic)/RESULT", payload: payload)
            return
        }
        guard upper.hasPrefix("POWER") else { return }
        let index = upper == "POWER" ? 1 : Int(upper.dropFirst(5)) ?? 0
        guard (1...power.value.count).contains(index) else { return }
        let current = power.value[index - 1]
        let next: Bool
        switch payload.uppercased() {
        case "ON", "1": next = true
        case "OFF", "0": next = false
        case "TOGGLE", "2": next = !current
        case "": next = current
        default: return
        }
        power.withLock { $0[index - 1] = next }
        let word = next ? "ON" : "OFF"
        try? await client.publish(to: "stat/\(topic)/RESULT", payload: "{\"\(key(index))\":\"\(word)\"}")
        try? await client.publish(to: "stat/\(topic)/\(key(index))", payload: word)
    }

    /// Telemetry, as TelePeriod sends it.
    func publishSensor(_ json: String) async throws {
        try await client.publish(to: "tele/\(topic)/SENSOR", payload: json)
    }

    /// Its own announcement for auto-discovery, retained.
    func announce(mac: String) async throws {
        let relayKinds = power.value.map { _ in "1" }.joined(separator: ",")
        let config =
            #"{"ip":"192.168.1.50","dn":"Tasmota","hn":"\#(topic)-1234","mac":"\#(mac)","md":"Sonoff Basic","ofln":"Offline","onln":"Online","sw":"13.1.0","t":"\#(topic)","ft":"%prefix%/%topic%/","tp":["cmnd","stat","tele"],"rl":[\#(relayKinds)],"ver":1}"#
        try await client.publish(to: "tasmota/discovery/\(mac)/config", payload: config, qos: .atLeastOnce, retain: true)
        try await client.publish(
            to: "tasmota/discovery/\(mac)/sensors",
            payload: #"{"sn":{"Time":"2026-11-27T10:00:00","AM2301":{"Temperature":19.5,"Humidity":48.2},"TempUnit":"C"},"ver":1}"#,
            qos: .atLeastOnce, retain: true)
    }

    deinit { for task in tasks.value { task.cancel() } }
}

/// ESPHome: `<node>/switch/<object id>/command` in; `<node>/switch/<object id>/state`,
/// `<node>/binary_sensor/...` and `<node>/sensor/.../state` out, retained; `<node>/status` online
/// as the birth and offline as the will. Entities are given by their `name:`, and their object ids
/// are derived from it as ESPHome does (`Relay #2 (Garage)` is `relay__2__garage_`), whatever
/// their YAML `id:` is.
final class ESPHomeNode: Sendable {
    let node: String
    let client: MQTTClient
    /// Object id → name, for every entity.
    let names: [String: String]
    /// Object id → the entity's own state and command topics, where its YAML sets them.
    let ownTopics: [String: (state: String, command: String?)]
    /// Whether it has `<node>/status` (birth and will); ESPHome allows both to be off.
    let hasStatus: Bool
    private let switches: Locked<[String: Bool]>
    private let received = Locked<[String]>([])
    private let tasks: Locked<[Task<Void, Never>]> = Locked([])

    /// ESPHome's object id: the name in lower case, spaces as `_`, anything but `a-z0-9-_` as `_`.
    static func objectID(_ name: String) -> String {
        String(
            name.lowercased().map { $0 == " " ? "_" : $0 }.map { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "_" ? $0 : "_" })
    }

    /// `ownTopics` is keyed by entity name; `hasStatus` false is `birth_message:` and `will_message:` empty.
    init(
        node: String, port: Int, switches: [String], binarySensors: [String] = [], sensors: [String] = [],
        ownTopics: [String: (state: String, command: String?)] = [:], hasStatus: Bool = true
    ) throws {
        self.node = node
        self.hasStatus = hasStatus
        names = Dictionary((switches + binarySensors + sensors).map { (Self.objectID($0), $0) }, uniquingKeysWith: { first, _ in first })
        self.ownTopics = Dictionary(ownTopics.map { (Self.objectID($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
        self.switches = Locked(Dictionary(uniqueKeysWithValues: switches.map { (Self.objectID($0), false) }))
        var configuration = clientConfiguration(port: port, node, version: .v3_1_1)
        configuration.fallbackToV3_1_1 = false
        if hasStatus {
            configuration.will = WillMessage(topic: "\(node)/status", payload: ByteBuffer(string: "offline"), qos: .atLeastOnce, retain: true)
        }
        client = try MQTTClient(configuration: configuration, logger: testLogger("esphome"))
        let states = client.connectionStates()
        tasks.withLock { tasks in
            tasks.append(
                Task { [self] in
                    for await state in states where state.isConnected {
                        _ = try? await client.subscribe(to: "\(node)/switch/+/command", qos: .atMostOnce)
                        for command in self.ownTopics.values.compactMap(\.command) { _ = try? await client.subscribe(to: command, qos: .atMostOnce) }
                        if hasStatus { try? await client.publish(to: "\(node)/status", payload: "online", qos: .atLeastOnce, retain: true) }
                        for (id, on) in self.switches.value {
                            try? await client.publish(to: stateTopic("switch", id), payload: on ? "ON" : "OFF", retain: true)
                        }
                    }
                })
            tasks.append(
                Task { [self] in
                    for await message in client.messages { await handle(message.topic, message.payloadString) }
                })
        }
    }

    var commands: [String] { received.value }

    private func stateTopic(_ component: String, _ id: String) -> String { ownTopics[id]?.state ?? "\(node)/\(component)/\(id)/state" }

    private func handle(_ topic: String, _ payload: String) async {
        let levels = topic.split(separator: "/").map(String.init)
        let id: String
        if let own = ownTopics.first(where: { $0.value.command == topic }) {
            id = own.key
        } else if levels.count == 4, levels[3] == "command", ownTopics[levels[2]]?.command == nil {
            id = levels[2]
        } else {
            return
        }
        guard let current = switches.value[id] else { return }
        received.withLock { $0.append("\(id) \(payload)") }
        let next: Bool
        switch payload.uppercased() {
        case "ON": next = true
        case "OFF": next = false
        case "TOGGLE": next = !current
        default: return
        }
        switches.withLock { $0[id] = next }
        try? await client.publish(to: stateTopic("switch", id), payload: next ? "ON" : "OFF", retain: true)
    }

    /// A sensor's reading, as ESPHome formats it (`18.25`; `nan` when the sensor failed).
    func publishSensor(named name: String, _ value: String) async throws {
        try await client.publish(to: stateTopic("sensor", Self.objectID(name)), payload: value, retain: true)
    }

    func publishBinarySensor(named name: String, on: Bool) async throws {
        try await client.publish(to: stateTopic("binary_sensor", Self.objectID(name)), payload: on ? "ON" : "OFF", retain: true)
    }

    /// Its Home Assistant discovery for a switch, abbreviated as ESPHome writes it: its own topics
    /// where it has them, and no availability without a status topic.
    func announceSwitch(named name: String) async throws {
        let id = Self.objectID(name)
        let command = ownTopics[id]?.command ?? "\(node)/switch/\(id)/command"
        let availability = hasStatus ? #","avty_t":"\#(node)/status""# : ""
        let config =
            #"{"name":"\#(name)","stat_t":"\#(stateTopic("switch", id))","cmd_t":"\#(command)"\#(availability),"uniq_id":"ESPswitch\#(id)","dev":{"ids":"240ac4a1b2c3","name":"\#(node)","sw":"esphome v2024.6.1 Nov 27 2026, 10:00:00","mdl":"nodemcuv2","mf":"espressif"}}"#
        try await client.publish(to: "homeassistant/switch/\(node)/\(id)/config", payload: config, qos: .atLeastOnce, retain: true)
    }

    deinit { for task in tasks.value { task.cancel() } }
}

/// The ESP8266 tutorial's sketch: client id `esp8266-client-<MAC>`, MQTT 3.1.1, keep-alive 15 s,
/// no will and no birth; it publishes a random number to `test` every interval and prints what
/// arrives on `test`. The sketch draws 1...500; the emulator draws 2...500, so that a "1" on `test`
/// can only be the relay's command.
final class TutorialBoard: Sendable {
    let client: MQTTClient
    let interval: Duration
    private let received = Locked<[String]>([])
    private let published = Locked<[String]>([])
    private let tasks: Locked<[Task<Void, Never>]> = Locked([])

    init(port: Int, interval: Duration = .seconds(3)) throws {
        self.interval = interval
        var configuration = clientConfiguration(port: port, "esp8266-client-5CCF7FA1B2C3", version: .v3_1_1)
        configuration.fallbackToV3_1_1 = false
        configuration.keepAlive = 15
        client = try MQTTClient(configuration: configuration, logger: testLogger("tutorial"))
        let states = client.connectionStates()
        tasks.withLock { tasks in
            tasks.append(
                Task { [client] in
                    for await state in states where state.isConnected { _ = try? await client.subscribe(to: "test", qos: .atMostOnce) }
                })
            tasks.append(
                Task { [client, received] in
                    for await message in client.messages { received.withLock { $0.append(message.payloadString) } }
                })
        }
        startPublishing()
    }

    /// What arrived on `test`, its own numbers included (the sketch's callback prints them all).
    var heard: [String] { received.value }
    var numbers: [String] { published.value }

    func startPublishing() {
        let task = Task { [client, interval, published] in
            while !Task.isCancelled {
                guard (try? await Task.sleep(for: interval)) != nil else { return }
                let number = String(Int.random(in: 2...500))
                published.withLock { $0.append(number) }
                try? await client.publish(to: "test", payload: number)
            }
        }
        tasks.withLock { $0.append(task) }
    }

    /// It loses power: it stops publishing and says nothing more (it has no will).
    func vanish() {
        tasks.withLock { tasks in tasks.last?.cancel() }
    }

    deinit { for task in tasks.value { task.cancel() } }
}
