import Foundation
import MQTT
import Profile
import Testing

private let fleetProfilePath = packageRoot + "/Profiles/fleet.yml"

/// The relay against real Mosquitto brokers, with emulated ESP8266 boards speaking each
/// firmware's exact topics and payloads.
@Suite("The relay, with emulated boards on real brokers", .serialized, .needsMosquitto)
struct RelayServiceTests {
    @Test("Profiles/fleet.yml mirrors a Tasmota, an ESPHome and the tutorial board; commands reach each; fleet ls lists them with an agent")
    func fleetProfile() async throws {
        let yaml = try String(contentsOfFile: fleetProfilePath, encoding: .utf8)
        try await withMosquitto { broker in
            let kitchen = try TasmotaBoard(topic: "tasmota_A1B2C3", port: broker.ports.plain, setOption26: true)
            let porch = try ESPHomeNode(
                node: "porch", port: broker.ports.plain, switches: ["Relay 1"], binarySensors: ["Motion"],
                sensors: ["Temperature", "Humidity"])
            let tutorial = try TutorialBoard(port: broker.ports.plain, interval: .milliseconds(300))
            try await withRunningClients([kitchen.client, porch.client, tutorial.client]) {
                try await withRelay(yaml, fleet: broker) { relay in
                    for board in ["kitchen", "porch", "tutorial"] { try await relay.expectMessage("gpiobridge/\(board)/status", "online") }

                    // Tasmota: the command, its RESULT (POWER1 under SetOption26) mirrored back.
                    var mark = relay.seen
                    try await relay.publish("gpiobridge/kitchen/light/set", "ON")
                    try await relay.expectMessage("gpiobridge/kitchen/light", "ON", after: mark)
                    #expect(kitchen.commands == ["POWER1 ON"])
                    #expect(kitchen.stateQueries >= 1, "the relay asked the board for its state when it came online")
                    // Home Assistant's Tasmota integration sends Power1; the fleet sees the change.
                    mark = relay.seen
                    try await relay.publish("cmnd/tasmota_A1B2C3/Power1", "off")
                    try await relay.expectMessage("gpiobridge/kitchen/light", "OFF", after: mark)
                    // An empty command asks the board. (RESULT and stat/POWER1 both carry the change
                    // above: let both echoes arrive first.)
                    try await Task.sleep(for: .milliseconds(200))
                    mark = relay.seen
                    let asked = kitchen.stateQueries
                    try await relay.publish("gpiobridge/kitchen/light/set", "")
                    try await relay.expectMessage("gpiobridge/kitchen/light", "OFF", after: mark)
                    try await eventually("the query reaches the board") { kitchen.stateQueries > asked }
                    try await kitchen.publishSensor(
                        #"{"Time":"2026-11-27T10:00:00","BME280":{"Temperature":21.5,"Humidity":40.1,"Pressure":1012.3},"PressureUnit":"hPa","TempUnit":"C"}"#
                    )
                    try await relay.expectMessage("gpiobridge/kitchen/temperature", "21.5")
                    try await relay.expectMessage("gpiobridge/kitchen/humidity", "40.1")

                    // ESPHome: the switch's command topic, its state back.
                    try await relay.publish("gpiobridge/porch/light/set", "toggle")
                    try await relay.expectMessage("gpiobridge/porch/light", "ON")
                    #expect(porch.commands == ["relay_1 TOGGLE"])
                    try await porch.publishSensor(named: "Temperature", "18.20")
                    try await relay.expectMessage("gpiobridge/porch/temperature", "18.20")
                    // nan is ESPHome's "no reading": the value is cleared, and it is no error.
                    try await porch.publishSensor(named: "Temperature", "nan")
                    try await relay.expectMessage("gpiobridge/porch/temperature", "")
                    try await porch.publishBinarySensor(named: "Motion", on: true)
                    try await relay.expectMessage("gpiobridge/porch/motion", "ON")
                    // An entity the profile does not name is reported once, with how object ids are made.
                    try await porch.publishSensor(named: "Humidity", "51.0")
                    try await porch.publishSensor(named: "Humidity", "52.0")
                    let undeclared = try await relay.expectMessage("gpiobridge/porch/error")
                    #expect(undeclared.payloadString.contains("the board publishes sensor/humidity, which the profile does not name"))
                    try await Task.sleep(for: .milliseconds(200))
                    #expect(relay.inbox.payloads("gpiobridge/porch/error").count == 1, "once, and nan was no error")

                    // The tutorial board: its numbers, and ON as the "1" its callback receives on test.
                    let number = try await relay.expectMessage("gpiobridge/tutorial/number")
                    #expect(tutorial.numbers.contains(number.payloadString))
                    try await relay.publish("gpiobridge/tutorial/led/set", "ON")
                    try await relay.expectMessage("gpiobridge/tutorial/led", "ON")
                    try await eventually("the tutorial board hears 1 on test") { tutorial.heard.contains("1") }
                    #expect(
                        relay.inbox.payloads("gpiobridge/tutorial/number").allSatisfy { tutorial.numbers.contains($0) },
                        "the relay's own command on test is not mistaken for a reading")

                    // Malformed JSON from a board: an error, and the relay goes on.
                    try await kitchen.client.publish(to: "tele/tasmota_A1B2C3/SENSOR", payload: #"{"BME280":{"Temperature":"#)
                    let error = try await relay.expectMessage("gpiobridge/kitchen/error")
                    #expect(error.payloadString.contains("malformed JSON"))
                    mark = relay.seen
                    try await relay.publish("gpiobridge/kitchen/light/set", "1")
                    try await relay.expectMessage("gpiobridge/kitchen/light", "ON", after: mark)
                    // A bad command: the error topic, with the reason.
                    mark = relay.seen
                    try await relay.publish("gpiobridge/porch/light/set", "blink")
                    let refused = try await relay.expectMessage("gpiobridge/porch/error", after: mark)
                    #expect(refused.payloadString.contains(#""payload":"blink""#))

                    // Home Assistant: one device per board, under gpiobridge's device model.
                    let discovery = try await relay.expectMessage("homeassistant/device/gpiobridge_kitchen/config")
                    #expect(discovery.payloadString.contains(#""mdl":"tasmota board mirrored by gpiobridge""#))
                    #expect(relay.inbox.messages.filter { $0.topic.hasPrefix("homeassistant/") && $0.topic.contains("kitchen") }.count == 1)

                    // fleet ls, with a Pi agent beside the boards, and one whose profile moves its base topic.
                    let shed = "device: {id: shed-pi, base_topic: home/shed/pi}\noutputs: [{name: heater, line: GPIO5}]\n"
                    try await withAgent(shed, broker: broker) { _ in
                        try await withAgent(agentProfile, broker: broker) { _ in
                            let table = try await run(["fleet", "ls", "-p", "\(broker.ports.plain)"])
                            #expect(table.status == 0)
                            let rows = table.output.split(separator: "\n").map {
                                $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                            }
                            let byDevice = Dictionary(rows.dropFirst().map { ($0[0], $0) }, uniquingKeysWith: { first, _ in first })
                            #expect(byDevice["garage-pi"]?.prefix(3) == ["garage-pi", "agent", "online"])
                            #expect(byDevice["kitchen"]?.prefix(3) == ["kitchen", "tasmota", "online"])
                            #expect(byDevice["porch"]?.prefix(3) == ["porch", "esphome", "online"])
                            #expect(byDevice["tutorial"]?.prefix(3) == ["tutorial", "pubsubclient", "online"])
                            #expect(byDevice["fleet-relay"]?.prefix(3) == ["fleet-relay", "relay", "online"])
                            #expect(byDevice["kitchen"]?.contains("light") == true)
                            #expect(byDevice["kitchen"]?.contains("temperature,humidity") == true)
                            let json = try await run(["fleet", "ls", "-p", "\(broker.ports.plain)", "--json"])
                            #expect(json.output.contains(#"{"device":"garage-pi","kind":"agent","name":"Garage Pi","online":true"#))
                            #expect(json.output.contains(#""device":"porch","kind":"esphome","name":"porch","online":true,"status":"online""#))
                            #expect(byDevice["shed-pi"]?.prefix(3) == ["shed-pi", "agent", "online"])
                            #expect(byDevice["shed-pi"]?.contains("heater") == true)
                            #expect(json.output.contains(#""outputs":["heater"],"inputs":[],"sensors":[],"base_topic":"home/shed/pi"}"#))
                        }
                    }
                } afterStop: { inbox in
                    // A graceful stop: every board and the relay are offline to the fleet.
                    for device in ["kitchen", "porch", "tutorial", "fleet-relay"] {
                        try await inbox.expectMessage("gpiobridge/\(device)/status", "offline")
                    }
                }
            }
            let afterwards = try await run(["fleet", "ls", "-p", "\(broker.ports.plain)"])
            #expect(afterwards.output.contains("offline"))
            #expect(!afterwards.output.split(separator: "\n").dropFirst().contains { $0.contains(" online ") }, "nothing is online once all stopped")
        }
    }

    @Test("boards vanish: a Tasmota's will and a silent tutorial board are offline; a command waits for the board and reaches it on return")
    func vanishingBoards() async throws {
        let yaml = """
            relay: {id: hub}
            fleet: {host: localhost}
            boards:
              - {name: kitchen, tasmota: {topic: tasmota_A1B2C3, relays: {light: 1}}}
              - {name: tutorial, pubsubclient: {interval: 200ms, silent_intervals: 2, values: {number: test}}}
            buffer: {commands: 10, max_age: 30s}
            """
        try await withMosquitto { broker in
            let kitchen = try TasmotaBoard(topic: "tasmota_A1B2C3", port: broker.ports.plain)
            let tutorial = try TutorialBoard(port: broker.ports.plain, interval: .milliseconds(200))
            try await withRunningClients([kitchen.client, tutorial.client]) {
                try await withRelay(yaml, fleet: broker) { relay in
                    try await relay.expectMessage("gpiobridge/kitchen/status", "online")
                    try await relay.expectMessage("gpiobridge/tutorial/status", "online")

                    // No will: silence beyond two intervals is offline; the next number is online again.
                    var mark = relay.seen
                    tutorial.vanish()
                    try await relay.expectMessage("gpiobridge/tutorial/status", "offline", after: mark, timeout: .seconds(3))
                    mark = relay.seen
                    tutorial.startPublishing()
                    try await relay.expectMessage("gpiobridge/tutorial/status", "online", after: mark)

                    // Tasmota's will: LWT Offline. A QoS 1 command waits for the board.
                    let beforeWill = relay.seen
                    kitchen.client.stop(sendingWill: true)
                    try await relay.expectMessage("gpiobridge/kitchen/status", "offline", after: beforeWill)
                    try await relay.publish("gpiobridge/kitchen/light/set", "ON")
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(relay.inbox.payloads("gpiobridge/kitchen/error").isEmpty, "a waiting command is not refused")
                    let back = try TasmotaBoard(topic: "tasmota_A1B2C3", port: broker.ports.plain)
                    try await withRunningClients([back.client]) {
                        try await relay.expectMessage("gpiobridge/kitchen/light", "ON", after: beforeWill)
                        #expect(back.commands == ["POWER1 ON"])
                    }
                }
            }
        }
    }

    @Test("the boards' broker is lost: its boards are offline on the fleet; a command waits and is delivered when it returns")
    func boardsBrokerLost() async throws {
        let yaml = """
            relay: {id: hub}
            fleet: {host: localhost}
            boards_broker: {host: localhost}
            boards:
              - {name: kitchen, tasmota: {topic: tasmota_A1B2C3, relays: {light: 1}}}
            """
        try await withMosquitto { fleet in
            try await withMosquitto { lan in
                let kitchen = try TasmotaBoard(topic: "tasmota_A1B2C3", port: lan.ports.plain)
                try await withRunningClients([kitchen.client]) {
                    try await withRelay(yaml, fleet: fleet, boards: lan) { relay in
                        try await relay.expectMessage("gpiobridge/kitchen/status", "online")
                        let mark = relay.seen
                        await lan.stop()
                        try await relay.expectMessage("gpiobridge/kitchen/status", "offline", after: mark)
                        try await relay.publish("gpiobridge/kitchen/light/set", "ON")
                        try await lan.start()
                        try await relay.expectMessage("gpiobridge/kitchen/status", "online", after: mark)
                        try await relay.expectMessage("gpiobridge/kitchen/light", "ON", after: mark)
                        #expect(kitchen.commands == ["POWER1 ON"])
                    }
                }
            }
        }
    }

    @Test("one broker for boards and fleet restarts: the board is not reported offline then online, and is asked for its relays again")
    func sharedBrokerRestart() async throws {
        let yaml = "relay: {id: hub}\nfleet: {host: localhost}\nboards:\n  - {name: kitchen, tasmota: {topic: tasmota_A1B2C3, relays: {light: 1}}}\n"
        try await withMosquitto { broker in
            let kitchen = try TasmotaBoard(topic: "tasmota_A1B2C3", port: broker.ports.plain)
            try await withRunningClients([kitchen.client]) {
                try await withRelay(yaml, fleet: broker) { relay in
                    try await relay.expectMessage("gpiobridge/kitchen/status", "online")
                    try await relay.expectMessage("gpiobridge/kitchen/light", "OFF")
                    let asked = kitchen.stateQueries
                    let mark = relay.seen
                    await broker.stop()
                    try await broker.start()
                    try await relay.fleetObserver.waitUntilConnected()
                    try await eventually("the relay asked the board again", timeout: .seconds(20)) { kitchen.stateQueries > asked }
                    // Past the settle time: whatever the relay was going to say has been said.
                    try await Task.sleep(for: .seconds(3))
                    let statuses = relay.seenMessages.dropFirst(mark).filter { $0.topic == "gpiobridge/kitchen/status" }.map(\.payloadString)
                    #expect(!statuses.contains("offline"), "no flap: \(relay.seenMessages.dropFirst(mark).map { "\($0.topic) \($0.payloadString)" })")
                    #expect(statuses.last == "online")
                }
            }
        }
    }

    @Test("each message goes on with the QoS it came with: a command to the board, a board's report to the fleet; the relay's own words with QoS 1")
    func passedOnAtTheirQoS() async throws {
        let yaml = "relay: {id: hub}\nfleet: {host: localhost}\nboards:\n  - {name: kitchen, tasmota: {topic: tasmota_A1B2C3, relays: {light: 1}}}\n"
        try await withMosquitto { broker in
            let kitchen = try TasmotaBoard(topic: "tasmota_A1B2C3", port: broker.ports.plain)
            try await withRunningClients([kitchen.client]) {
                try await withRelay(yaml, fleet: broker) { relay in
                    // The observer subscribes to everything with QoS 1: it hears each message with
                    // the QoS it was published with.
                    #expect(try await relay.expectMessage("gpiobridge/kitchen/status", "online").qos == .atLeastOnce)
                    try await relay.expectMessage("gpiobridge/kitchen/light", "OFF")
                    for (word, qos) in [("ON", QoS.atMostOnce), ("OFF", .atLeastOnce), ("ON", .exactlyOnce)] {
                        let mark = relay.seen
                        try await relay.publish("gpiobridge/kitchen/light/set", word, qos: qos)
                        let command = try await relay.expectMessage("cmnd/tasmota_A1B2C3/POWER1", word, after: mark)
                        #expect(command.qos == min(qos, .atLeastOnce), "the command to the board, sent with \(qos)")
                        // The board reports at QoS 0, as Tasmota does; so does the relay, passing it on.
                        #expect(try await relay.expectMessage("stat/tasmota_A1B2C3/RESULT", after: mark).qos == .atMostOnce)
                        #expect(try await relay.expectMessage("gpiobridge/kitchen/light", word, after: mark).qos == .atMostOnce)
                    }
                    #expect(kitchen.commands == ["POWER1 ON", "POWER1 OFF", "POWER1 ON"])
                    // The broker keeps the record a QoS 0 state left.
                    let late = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "late"), logger: testLogger("late"))
                    let heard = Inbox(late)
                    try await withRunningClients([late]) {
                        _ = try await late.subscribe([Subscription(TopicFilter("gpiobridge/kitchen/light")!, qos: .atLeastOnce)])
                        #expect(try await heard.expectMessage("gpiobridge/kitchen/light", "ON").retain)
                    }
                }
            }
        }
    }

    @Test("the fleet broker is lost: a board's change reaches the fleet when it returns, and a QoS 1 command sent meanwhile is delivered")
    func fleetBrokerLost() async throws {
        let yaml = """
            relay: {id: hub}
            fleet: {host: localhost, session_expiry: 1h}
            boards_broker: {host: localhost}
            boards:
              - {name: kitchen, tasmota: {topic: tasmota_A1B2C3, relays: {light: 1}}}
            """
        try await withMosquitto { fleet in
            try await withMosquitto { lan in
                let kitchen = try TasmotaBoard(topic: "tasmota_A1B2C3", port: lan.ports.plain)
                let lanUser = try MQTTClient(configuration: clientConfiguration(port: lan.ports.plain, "ha"), logger: testLogger("ha"))
                try await withRunningClients([kitchen.client, lanUser]) {
                    try await withRelay(yaml, fleet: fleet, boards: lan) { relay in
                        try await relay.expectMessage("gpiobridge/kitchen/status", "online")
                        try await relay.expectMessage("gpiobridge/kitchen/light", "OFF")  // the board's answer to the relay's STATE
                        let mark = relay.seen
                        await fleet.stop()
                        // Someone on the LAN switches the light while the fleet broker is away.
                        try await lanUser.publish(to: "cmnd/tasmota_A1B2C3/POWER", payload: "ON", qos: .atLeastOnce)
                        try await eventually("the board switched") { kitchen.relays == [true] }
                        try await fleet.start()
                        try await relay.fleetObserver.waitUntilConnected()
                        try await relay.publish("gpiobridge/kitchen/light/set", "OFF")
                        try await relay.expectMessage("gpiobridge/kitchen/light", "ON", after: mark)
                        // The observer's own resubscription may bring the retained OFF from before: the
                        // command's OFF is the one after ON.
                        let on = try #require(
                            relay.seenMessages.dropFirst(mark).firstIndex { $0.topic == "gpiobridge/kitchen/light" && $0.payloadString == "ON" })
                        try await relay.expectMessage("gpiobridge/kitchen/light", "OFF", after: on + 1)
                        #expect(kitchen.commands == ["POWER ON", "POWER1 OFF"])
                    }
                }
            }
        }
    }

    @Test("two brokers: the boards on a plain LAN broker, the fleet on TLS with a CA, a user and a password file")
    func tlsFleet() async throws {
        let directory = NSTemporaryDirectory() + "relay-tls-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "secret\n".write(toFile: directory + "/fleet-password", atomically: true, encoding: .utf8)
        try await withMosquitto { fleet in
            try await withMosquitto { lan in
                let yaml = """
                    relay: {id: hub}
                    fleet: {host: localhost, port: \(fleet.ports.tls), tls: {ca: \(try await TestPKI.path("ca.crt"))}, username: alice,
                            password_file: \(directory)/fleet-password}
                    boards_broker: {host: 127.0.0.1, port: \(lan.ports.plain)}
                    boards:
                      - {name: kitchen, tasmota: {topic: tasmota_A1B2C3, relays: {light: 1}}}
                    """
                let kitchen = try TasmotaBoard(topic: "tasmota_A1B2C3", port: lan.ports.plain)
                try await withRunningClients([kitchen.client]) {
                    try await withRelay(yaml, fleet: fleet, boards: lan, asWritten: true) { relay in
                        try await relay.expectMessage("gpiobridge/kitchen/status", "online")
                        try await relay.publish("gpiobridge/kitchen/light/set", "ON")
                        try await relay.expectMessage("gpiobridge/kitchen/light", "ON")
                        #expect(kitchen.commands == ["POWER1 ON"])
                    }
                }
                let login = fleet.log.split(separator: "\n").first {
                    $0.contains("New client connected") && $0.contains("as gpiobridge-hub-\(MachineIdentity.suffix) ")
                }
                #expect(login?.contains("u'alice'") == true, "the relay logged in as alice: \(login ?? "no login")")
            }
        }
    }

    @Test("boards that announce themselves are mirrored: Tasmota's discovery and ESPHome's Home Assistant configs")
    func announcedBoards() async throws {
        let yaml = "relay: {id: hub}\nfleet: {host: localhost}\ndiscover: {tasmota: true, esphome: true}\n"
        try await withMosquitto { broker in
            let hall = try TasmotaBoard(topic: "tasmota_D4E5F6", port: broker.ports.plain, relays: 2)
            let garden = try ESPHomeNode(node: "garden", port: broker.ports.plain, switches: ["Pump"])
            try await withRunningClients([hall.client, garden.client]) {
                try await hall.announce(mac: "5CCF7FD4E5F6")
                try await garden.announceSwitch(named: "Pump")
                try await withRelay(yaml, fleet: broker) { relay in
                    try await relay.expectMessage("gpiobridge/tasmota_D4E5F6/status", "online")
                    try await relay.expectMessage("gpiobridge/garden/status", "online")
                    try await relay.publish("gpiobridge/tasmota_D4E5F6/relay2/set", "ON")
                    try await relay.expectMessage("gpiobridge/tasmota_D4E5F6/relay2", "ON")
                    #expect(hall.commands == ["POWER2 ON"])
                    try await hall.publishSensor(#"{"AM2301":{"Temperature":19.5,"Humidity":48.2}}"#)
                    try await relay.expectMessage("gpiobridge/tasmota_D4E5F6/am2301_temperature", "19.5")
                    try await relay.publish("gpiobridge/garden/pump/set", "ON")
                    try await relay.expectMessage("gpiobridge/garden/pump", "ON")
                    #expect(garden.commands == ["pump ON"])
                }
            }
        }
    }

    @Test("ESPHome nodes as their YAML may set them: their own state and command topics, birth and will off; declared and announced")
    func esphomeVariants() async throws {
        let yaml = """
            relay: {id: hub}
            fleet: {host: localhost}
            boards:
              - name: porch
                esphome: {node: porch, silence: 30s, switches: {light: {id: relay_1, state_topic: porch/light, command_topic: porch/light/set}}}
            discover: {esphome: true}
            """
        try await withMosquitto { broker in
            let porch = try ESPHomeNode(
                node: "porch", port: broker.ports.plain, switches: ["Relay 1"],
                ownTopics: ["Relay 1": (state: "porch/light", command: "porch/light/set")], hasStatus: false)
            let shed = try ESPHomeNode(
                node: "shed", port: broker.ports.plain, switches: ["Pump"],
                ownTopics: ["Pump": (state: "shed/pump", command: "shed/pump/do")], hasStatus: false)
            try await withRunningClients([porch.client, shed.client]) {
                try await shed.announceSwitch(named: "Pump")
                try await withRelay(yaml, fleet: broker) { relay in
                    // Declared: its retained state says it is alive; commands go to its own command topic.
                    try await relay.expectMessage("gpiobridge/porch/status", "online")
                    try await relay.expectMessage("gpiobridge/porch/light", "OFF")
                    try await relay.publish("gpiobridge/porch/light/set", "ON")
                    try await relay.expectMessage("gpiobridge/porch/light", "ON")
                    #expect(porch.commands == ["relay_1 ON"])
                    // Announced: its config's topics are used, and it is online once heard from.
                    try await relay.expectMessage("gpiobridge/shed/status", "online")
                    try await relay.publish("gpiobridge/shed/pump/set", "ON")
                    try await relay.expectMessage("gpiobridge/shed/pump", "ON")
                    #expect(shed.commands == ["pump ON"])
                }
            }
        }
    }

    @Test("a burst over the relay's backlog limit pauses reading from the broker until the relay caught up; every message is mirrored")
    func backlogPausesReading() async throws {
        let names = (0..<600).map { "b\(1000 + $0)" }
        var yaml = "relay: {id: hub}\nfleet: {host: localhost}\nboards:\n"
        for name in names {
            yaml += "  - {name: \(name), tasmota: {topic: t_\(name), relays: {light: 1}, sensors: {temperature: SI7021.Temperature}}}\n"
        }
        try await withMosquitto { broker in
            // Retained, so that all of them reach the relay at once when it subscribes.
            let boards = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "boards"), logger: testLogger("boards"))
            try await withRunningClients([boards]) {
                for (index, name) in names.enumerated() {
                    try await boards.publish(
                        MQTTMessage(
                            topic: "tele/t_\(name)/SENSOR", payload: "{\"SI7021\":{\"Temperature\":\(index).5}}", qos: .atLeastOnce, retain: true))
                }
            }
            let log = CapturedLog()
            try await withRelay(yaml, fleet: broker, logger: log.logger("relay"), backlog: (pauseAt: 50, resumeAt: 10)) { relay in
                for (index, name) in names.enumerated() { try await relay.expectMessage("gpiobridge/\(name)/temperature", "\(index).5") }
                let notices = log.all.map(\.message)
                #expect(notices.contains { $0.contains("messages wait to be mirrored: reading from the brokers pauses until 10 are left") })
                #expect(notices.contains { $0.contains("the mirroring caught up: reading from the brokers again") })
            }
        }
    }

    @Test("a flood of fake announcements: the relay mirrors discover.max_boards of them, reports the rest once on its error topic, and keeps working")
    func announcementFlood() async throws {
        let yaml = "relay: {id: hub}\nfleet: {host: localhost}\ndiscover: {tasmota: true, esphome: true, max_boards: 5}\n"
        try await withMosquitto { broker in
            let faker = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "faker"), logger: testLogger("faker"))
            try await withRunningClients([faker]) {
                // Retained, as boards announce: the relay reads them all when it subscribes.
                for index in 0..<40 {
                    let mac = String(format: "AABBCC%06X", index)
                    try await faker.publish(
                        to: "tasmota/discovery/\(mac)/config", payload: #"{"mac":"\#(mac)","t":"fake_\#(index)","rl":[1],"ver":1}"#,
                        qos: .atLeastOnce, retain: true)
                }
                for index in 0..<20 {
                    let config =
                        #"{"stat_t":"node\#(index)/switch/x/state","cmd_t":"node\#(index)/switch/x/command","dev":{"ids":"n\#(index)","sw":"esphome v2024.6.1"}}"#
                    try await faker.publish(to: "homeassistant/switch/node\(index)/x/config", payload: config, qos: .atLeastOnce, retain: true)
                }
                try await faker.publish(
                    to: "tasmota/discovery/AABBCCFFFFFF/config", payload: String(repeating: " ", count: 20_000) + "{}",
                    qos: .atLeastOnce, retain: true)
                try await withRelay(yaml, fleet: broker) { relay in
                    let error = try await relay.expectMessage("gpiobridge/hub/error")
                    #expect(
                        error.payloadString.contains("announced boards are mirrored already (discover.max_boards); it is not mirrored"),
                        "\(error.payloadString)")
                    try await eventually("five boards online") {
                        Set(relay.inbox.messages.filter { $0.topic.hasSuffix("/info") && $0.topic != "gpiobridge/hub/info" }.map(\.topic)).count == 5
                    }
                    try await eventually("the oversized announcement reported") {
                        relay.inbox.payloads("gpiobridge/hub/error").contains { $0.contains("over the 16384 an announcement may have") }
                    }
                    #expect(
                        relay.inbox.payloads("gpiobridge/hub/error").count == 2,
                        "one report per kind, not one per board: \(relay.inbox.payloads("gpiobridge/hub/error"))")
                    // The relay still mirrors: a mirrored board that comes online is online on the fleet.
                    let mirrored = try #require(
                        relay.inbox.messages.first { $0.topic.hasPrefix("gpiobridge/fake_") && $0.topic.hasSuffix("/info") }?.topic)
                    let board = mirrored.split(separator: "/")[1]
                    try await faker.publish(to: "tele/\(board)/LWT", payload: "Online", qos: .atLeastOnce, retain: true)
                    try await relay.expectMessage("gpiobridge/\(board)/status", "online")
                }
            }
        }
    }

    @Test("links: a Pi's button drives a Tasmota relay, and a relay linked both ways with a Pi output settles without oscillating")
    func links() async throws {
        let yaml = """
            relay: {id: hub}
            fleet: {host: localhost}
            boards:
              - {name: kitchen, tasmota: {topic: tasmota_A1B2C3, relays: {light: 1}}}
            links:
              - {from: garage-pi/button, to: kitchen/light}
              - {from: kitchen/light, to: garage-pi/led}
              - {from: garage-pi/led, to: kitchen/light}
            """
        try await withMosquitto { broker in
            let kitchen = try TasmotaBoard(topic: "tasmota_A1B2C3", port: broker.ports.plain)
            try await withRunningClients([kitchen.client]) {
                try await withAgent(agentProfile, broker: broker) { pi in
                    try await withRelay(yaml, fleet: broker) { relay in
                        try await relay.expectMessage("gpiobridge/kitchen/status", "online")
                        try await relay.publish("gpiobridge/kitchen/light/set", "")
                        try await relay.expectMessage("gpiobridge/kitchen/light", "OFF")
                        try pi.drive("GPIO5", false)  // the button, active-low: pressed
                        try await eventually("the light follows the button") { kitchen.relays == [true] }
                        try await pi.expectMessage("gpiobridge/garage-pi/led", "ON")
                        // The Pi's led, linked both ways with the light: switching it off settles both.
                        try await relay.publish("gpiobridge/garage-pi/led/set", "OFF")
                        try await eventually("the light follows the led") { kitchen.relays == [false] }
                        try await Task.sleep(for: .milliseconds(500))
                        #expect(kitchen.commands == ["POWER1 ON", "POWER1 OFF"], "each change once; nothing bounces back")
                        #expect(pi.payloads("gpiobridge/garage-pi/led").suffix(2) == ["ON", "OFF"])
                    }
                }
            }
        }
    }
}

private let agentProfile = """
    device: {id: garage-pi, name: Garage Pi}
    broker: {host: localhost}
    outputs:
      - {name: led, line: GPIO22}
    inputs:
      - {name: button, line: GPIO5, bias: pull-up, active_low: true, debounce: 10ms}
    """
