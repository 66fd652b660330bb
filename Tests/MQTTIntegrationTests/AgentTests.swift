import Agent
import Foundation
import Hardware
import JSON
import MQTT
import Profile
import Scheme
import ServiceSupport
import Testing

private let relayProfile = """
    device: {id: bench}
    outputs:
      - {name: lamp, line: GPIO17}
      - {name: relay, line: GPIO22, active_low: true}
      - {name: up, line: GPIO23, interlock: [down]}
      - {name: down, line: GPIO24}
      - {name: door, line: GPIO25, pulse: 300ms}
    inputs:
      - {name: button, line: GPIO5, bias: pull-up, active_low: true, debounce: 0s}
    """

@Suite("The agent against Mosquitto, on a simulated chip", .needsMosquitto)
struct AgentTests {
    @Test("a command sets the line, then the state is published retained; active-low inverts the line")
    func commandToState() async throws {
        try await withMosquitto { broker in
            try await withAgent(relayProfile, broker: broker) { rig in
                try await rig.expectMessage("gpiobridge/bench/lamp", "OFF")
                let seen = rig.inbox.messages.count
                try await rig.publish("gpiobridge/bench/lamp/set", "ON")
                let state = try await rig.expectMessage("gpiobridge/bench/lamp", "ON", after: seen)
                #expect(state.retain == false, "a live message; the broker keeps it retained for later subscribers")
                #expect(try rig.level("GPIO17"))
                try await rig.publish("gpiobridge/bench/relay/set", "ON")
                try await rig.expectMessage("gpiobridge/bench/relay", "ON", after: seen)
                #expect(try !rig.level("GPIO22"), "active-low: ON drives the line low")
                // A late subscriber gets the retained state.
                let late = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "late"), logger: testLogger("late"))
                let lateInbox = Inbox(late)
                try await withRunningClients([late]) {
                    _ = try await late.subscribe(to: "gpiobridge/bench/lamp")
                    let retained = try await lateInbox.wait(for: 1)
                    #expect(retained.first?.payloadString == "ON" && retained.first?.retain == true)
                }
            }
        }
    }

    @Test("the payload vocabulary: ON, off, Toggle, 1, 0, true, FALSE and JSON, case-insensitive")
    func vocabulary() async throws {
        try await withMosquitto { broker in
            try await withAgent(relayProfile, broker: broker) { rig in
                let steps: [(String, Bool)] = [
                    ("ON", true), ("off", false), ("Toggle", true), ("TOGGLE", false), ("1", true), ("0", false),
                    ("true", true), ("FALSE", false), (#"{"state":"on"}"#, true), (#"{"state":false}"#, false),
                    (#"{"state":1}"#, true), (#" {"state":"TOGGLE"} "#, false),
                ]
                for (payload, on) in steps {
                    let seen = rig.inbox.messages.count
                    try await rig.publish("gpiobridge/bench/lamp/set", payload)
                    try await rig.expectMessage("gpiobridge/bench/lamp", on ? "ON" : "OFF", after: seen)
                    #expect(try rig.level("GPIO17") == on, "after \(payload)")
                }
            }
        }
    }

    @Test("an empty payload publishes the current state without changing it")
    func query() async throws {
        try await withMosquitto { broker in
            try await withAgent(relayProfile, broker: broker) { rig in
                try await rig.publish("gpiobridge/bench/lamp/set", "ON")
                try await rig.expectMessage("gpiobridge/bench/lamp", "ON")
                let seen = rig.inbox.messages.count
                try await rig.publish("gpiobridge/bench/lamp/set", "")
                try await rig.expectMessage("gpiobridge/bench/lamp", "ON", after: seen + 1)
                #expect(try rig.level("GPIO17"))
            }
        }
    }

    @Test("bad payloads: each gets its reason on the error topic, the log a few and then a count; the agent keeps running")
    func badPayloads() async throws {
        let corpus: [(String, String)] = [
            ("ONN", #""ONN" is not a command (did you mean ON?)"#),
            (
                "blink",
                #""blink" is not a command (send ON, OFF, TOGGLE, 1, 0, true, false, {"state":"ON","pulse_ms":500}, or an empty message for the state)"#
            ),
            (
                "2",
                #""2" is not a command (send ON, OFF, TOGGLE, 1, 0, true, false, {"state":"ON","pulse_ms":500}, or an empty message for the state)"#
            ),
            (
                #"{"state":"ON""#,
                #"the JSON is malformed: the object is not closed at byte 14 (send {"state":"ON"} or {"state":"ON","pulse_ms":500})"#
            ),
            (#"{"stat":"ON"}"#, #"unknown key "stat" in the JSON command (did you mean state?)"#),
            (#"{"state":"ON","pulse_ms":-5}"#, "pulse_ms must be a whole number of milliseconds from 1 to 3600000"),
            (#"{"state":"ON","pulse_ms":1.5}"#, "pulse_ms must be a whole number of milliseconds from 1 to 3600000"),
            (#"{"state":"OFF","pulse_ms":100}"#, "a pulse needs state ON or TOGGLE"),
            (#"{"state":"maybe"}"#, #"state "maybe" is not ON, OFF or TOGGLE"#),
            (#"["ON"]"#, #"a JSON command is an object (send {"state":"ON"})"#),
            ("{}", #"the JSON command has no state (send {"state":"ON"})"#),
            (String(repeating: "x", count: 2000), "the payload is 2000 bytes; a command is at most 1024"),
        ]
        try await withMosquitto { broker in
            try await withAgent(relayProfile, broker: broker) { rig in
                // A 1 MB command: the error message and the log line repeat at most its first 64 bytes, and its size.
                let huge = String(repeating: "x", count: 1_000_000)
                let seenHuge = rig.inbox.messages.count
                try await rig.publish("gpiobridge/bench/lamp/set", huge)
                let hugeError = try await rig.expectMessage("gpiobridge/bench/error", after: seenHuge)
                let hugeJSON = try JSONValue(parsing: hugeError.payloadString)
                #expect(hugeError.payloadString.utf8.count < 300, "\(hugeError.payloadString.prefix(300))")
                #expect(hugeJSON["payload"] == .string(String(repeating: "x", count: 64)))
                #expect(hugeJSON["payload_bytes"] == .number(1_000_000))
                let logged = rig.log.all.last { $0.message == "refused a command" }
                #expect(logged?.metadata["payload"].map { "\($0)" } == String(repeating: "x", count: 64))
                #expect(logged?.metadata["payload_bytes"].map { "\($0)" } == "1000000")
                for (payload, reason) in corpus {
                    let seen = rig.inbox.messages.count
                    try await rig.publish("gpiobridge/bench/lamp/set", payload)
                    let error = try await rig.expectMessage("gpiobridge/bench/error", after: seen)
                    let json = try JSONValue(parsing: error.payloadString)
                    #expect(json["error"] == .string(reason), "for \(payload.prefix(40))")
                    #expect(json["topic"] == .string("gpiobridge/bench/lamp/set"))
                    #expect(try !rig.level("GPIO17"), "a refused command moves nothing")
                }
                // Every refusal was answered; the log took five for the topic and counts the rest.
                let burst = LogLimiter().burst
                #expect(rig.log.all.filter { $0.level == .warning && $0.message == "refused a command" }.count == burst)
                try await eventually("the count of refusals left out of the log", timeout: .seconds(20)) {
                    rig.log.all.contains {
                        $0.message.hasPrefix("\(corpus.count + 1 - burst) more lines like this were left out of the log")
                            && $0.metadata["kind"].map { "\($0)" } == "refused a command on gpiobridge/bench/lamp/set"
                    }
                }
                let seen = rig.inbox.messages.count
                try await rig.publish("gpiobridge/bench/lamp/set", "ON")
                try await rig.expectMessage("gpiobridge/bench/lamp", "ON", after: seen)
            }
        }
    }

    @Test("an input publishes its debounced kernel edges with its payloads; nothing polls")
    func input() async throws {
        try await withMosquitto { broker in
            try await withAgent(relayProfile, broker: broker) { rig in
                try await rig.expectMessage("gpiobridge/bench/button", "OFF")
                let seen = rig.inbox.messages.count
                try rig.drive("GPIO5", false)  // pressed: pulled to ground, active-low
                try await rig.expectMessage("gpiobridge/bench/button", "ON", after: seen)
                try rig.drive("GPIO5", nil)  // released: back to the pull-up
                try await rig.expectMessage("gpiobridge/bench/button", "OFF", after: seen)
            }
        }
    }

    @Test("interlocked outputs are never on together: the partner goes off first")
    func interlock() async throws {
        try await withMosquitto { broker in
            try await withAgent(relayProfile, broker: broker) { rig in
                try await rig.publish("gpiobridge/bench/up/set", "ON")
                try await rig.expectMessage("gpiobridge/bench/up", "ON")
                let seen = rig.inbox.messages.count
                try await rig.publish("gpiobridge/bench/down/set", "ON")
                try await rig.expectMessage("gpiobridge/bench/down", "ON", after: seen)
                let order = rig.inbox.messages.dropFirst(seen).filter {
                    $0.topic.hasPrefix("gpiobridge/bench/up") || $0.topic.hasPrefix("gpiobridge/bench/down")
                }
                .filter { !$0.topic.hasSuffix("/set") }.map { "\($0.topic) \($0.payloadString)" }
                #expect(order == ["gpiobridge/bench/up OFF", "gpiobridge/bench/down ON"])
                #expect(try !rig.level("GPIO23") && rig.level("GPIO24"))
            }
        }
    }

    @Test("a pulse ends by itself, even when the broker is gone")
    func pulse() async throws {
        try await withMosquitto { broker in
            try await withAgent(relayProfile, broker: broker) { rig in
                let seen = rig.inbox.messages.count
                try await rig.publish("gpiobridge/bench/door/set", "ON")
                try await rig.expectMessage("gpiobridge/bench/door", "ON", after: seen)
                try await rig.expectMessage("gpiobridge/bench/door", "OFF", after: seen)
                #expect(try !rig.level("GPIO25"))
                try await rig.publish("gpiobridge/bench/lamp/set", #"{"state":"ON","pulse_ms":400}"#)
                try await rig.expectMessage("gpiobridge/bench/lamp", "ON", after: seen)
                await broker.stop()
                try await withTimeout(.seconds(5), "the pulse to end without the broker") {
                    while try rig.level("GPIO17") { try await Task.sleep(for: .milliseconds(10)) }
                }
                try await broker.start()
            }
        }
    }

    @Test("without the broker for the grace period, outputs go to their safe states")
    func brokerGrace() async throws {
        let profile =
            relayProfile + """

                safety: {broker_grace: 300ms}
                """
        try await withMosquitto { broker in
            try await withAgent(profile, broker: broker) { rig in
                try await rig.publish("gpiobridge/bench/lamp/set", "ON")
                try await rig.publish("gpiobridge/bench/relay/set", "ON")
                try await rig.expectMessage("gpiobridge/bench/relay", "ON")
                #expect(try rig.level("GPIO17"))
                await broker.stop()
                try await withTimeout(.seconds(5), "the safe states") {
                    while try rig.level("GPIO17") || !rig.level("GPIO22") { try await Task.sleep(for: .milliseconds(10)) }
                }
                #expect(rig.log.all.contains { $0.level == .warning && $0.message.contains("outputs go to their safe states") })
                try await broker.start()
                // Back online, the states the broker missed are published.
                try await rig.expectMessage("gpiobridge/bench/lamp", "OFF")
            }
        }
    }

    @Test("graceful shutdown publishes offline, sets the safe states and releases every line")
    func shutdown() async throws {
        try await withMosquitto { broker in
            let chip = Locked<SimulatedChip?>(nil)
            try await withAgent(relayProfile, broker: broker, prepare: { simulated, _ in chip.withLock { $0 = simulated } }) { rig in
                try await rig.publish("gpiobridge/bench/lamp/set", "ON")
                try await rig.expectMessage("gpiobridge/bench/lamp", "ON")
                #expect(try rig.chip.lineInfo(offset: 17).consumer == "gpiobridge")
            }
            let simulated = try #require(chip.value)
            #expect(try !simulated.lineInfo(offset: 17).isUsed, "released")
            #expect(try !simulated.lineInfo(offset: 5).isUsed)
            // The retained status says offline.
            let late = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "late"), logger: testLogger("late"))
            let inbox = Inbox(late)
            try await withRunningClients([late]) {
                _ = try await late.subscribe(to: "gpiobridge/bench/status")
                #expect(try await inbox.wait(for: 1).first?.payloadString == "offline")
            }
        }
    }

    @Test("a QoS 1 command sent while the agent is reconnecting is delivered from its session, not lost")
    func commandDuringReconnect() async throws {
        try await withMosquitto { broker in
            try await withAgent(relayProfile, broker: broker) { rig in
                try await rig.expectMessage("gpiobridge/bench/lamp", "OFF")
                await broker.stop()
                try await broker.start()
                // Send as soon as the broker is back, before the agent's reconnect: the broker holds it in the agent's session.
                let commander = try MQTTClient(
                    configuration: clientConfiguration(port: broker.ports.plain, "commander"), logger: testLogger("commander"))
                try await withRunningClients([commander]) {
                    try await commander.publish(to: "gpiobridge/bench/lamp/set", payload: "ON", qos: .atLeastOnce)
                }
                try await withTimeout(.seconds(10), "the queued command") {
                    while try !rig.level("GPIO17") { try await Task.sleep(for: .milliseconds(10)) }
                }
            }
        }
    }

    @Test("initial: restore starts an output at its retained state")
    func restore() async throws {
        try await withMosquitto { broker in
            let seeder = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "seeder"), logger: testLogger("seeder"))
            try await withRunningClients([seeder]) {
                try await seeder.publish(to: "gpiobridge/bench/heater", payload: "ON", qos: .atLeastOnce, retain: true)
            }
            try await withAgent("device: {id: bench}\noutputs:\n  - {name: heater, line: GPIO6, initial: restore}\n", broker: broker) { rig in
                try await withTimeout(.seconds(5), "the restored state") {
                    while (try? rig.level("GPIO6")) != true { try await Task.sleep(for: .milliseconds(10)) }
                }
                let seen = rig.inbox.messages.count
                try await rig.publish("gpiobridge/bench/heater/set", "OFF")
                try await rig.expectMessage("gpiobridge/bench/heater", "OFF", after: seen)
            }
        }
    }

    @Test("initial: restore with a retained state that is neither ON nor OFF: a warning, an error message, and the output starts off")
    func unreadableRestore() async throws {
        try await withMosquitto { broker in
            let seeder = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "seeder"), logger: testLogger("seeder"))
            try await withRunningClients([seeder]) {
                try await seeder.publish(to: "gpiobridge/bench/heater", payload: "warm", qos: .atLeastOnce, retain: true)
            }
            try await withAgent("device: {id: bench}\noutputs:\n  - {name: heater, line: GPIO6, initial: restore}\n", broker: broker) { rig in
                let error = try await rig.expectMessage("gpiobridge/bench/error")
                #expect(
                    error.payloadString.contains(
                        #"the retained state on gpiobridge/bench/heater, \"warm\", is neither ON nor OFF; heater starts off"#),
                    "\(error.payloadString)")
                let warning = rig.log.all.first { $0.message.hasPrefix("the retained state cannot be restored") }
                #expect(warning?.level == .warning)
                #expect(warning?.metadata["payload"].map { "\($0)" } == "warm")
                try await rig.expectMessage("gpiobridge/bench/heater", "OFF")
                #expect(try !rig.level("GPIO6"))
            }
        }
    }

    @Test("sensors publish JSON readings in the profile's units; a failed read goes to the error topic")
    func sensors() async throws {
        let profile = """
            device: {id: bench}
            sensors:
              - {name: climate, model: bme280, bus: 1, interval: 200ms, units: {temperature: °F, pressure: Pa}}
              - {name: missing, model: sht3x, bus: 1, interval: 200ms}
            """
        try await withMosquitto { broker in
            try await withAgent(
                profile, broker: broker,
                prepare: { _, bus in bus.attachBME280(at: 0x76) }
            ) { rig in
                let reading = try JSONValue(parsing: try await rig.expectMessage("gpiobridge/bench/climate").payloadString)
                guard case .number(let fahrenheit)? = reading["temperature"], case .number(let humidity)? = reading["humidity"],
                    case .number(let pascals)? = reading["pressure"]
                else {
                    Issue.record("unexpected reading \(reading.serialized)")
                    return
                }
                #expect(abs(fahrenheit - (24.44 * 9 / 5 + 32)) < 0.01)
                #expect(abs(humidity - 54.172) < 0.001)
                #expect(abs(pascals - 99621.27) < 0.05)
                let error = try JSONValue(parsing: try await rig.expectMessage("gpiobridge/bench/error").payloadString)
                #expect(error["source"] == .string("missing"))
                #expect(error["error"] == .string("no device answered at 0x44 on I2C bus 1 (absent, unpowered or miswired?)"))
                #expect(rig.payloads("gpiobridge/bench/missing").isEmpty, "a failed read is never a value")
            }
        }
    }

    @Test("the tutorial's loop: a random number to test every interval, and the messages on test logged, at most 20 in 10 s")
    func tutorialLoop() async throws {
        let profile = """
            device: {id: tutorial}
            subscriptions: [{topic: test}]
            publishers: [{name: number, topic: test, interval: 200ms, random: {min: 1, max: 499}}]
            """
        try await withMosquitto { broker in
            try await withAgent(profile, broker: broker) { rig in
                for _ in 0..<3 {
                    let seen = rig.inbox.messages.count
                    let message = try await rig.expectMessage("test", after: seen)
                    #expect((1...499).contains(Int(message.payloadString) ?? 0), "min and max are both included")
                }
                try await rig.publish("test", "hello from the fleet")
                try await withTimeout(.seconds(5), "the logged message") {
                    while !rig.log.all.contains(where: { $0.message == "message" && $0.metadata["payload"] == "hello from the fleet" }) {
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }
                // A flood on the subscription: the log takes 20 lines in 10 s, not one per message.
                for index in 0..<200 { try await rig.publish("test", "flood \(index)", qos: .atMostOnce) }
                try await rig.publish("test", "the last", qos: .atLeastOnce)
                try await rig.expectMessage("test", "the last")
                try await Task.sleep(for: .milliseconds(200))
                #expect(rig.log.all.filter { $0.message == "message" }.count <= AgentCore.messageLinesPerWindow)
            }
        }
    }

    @Test("Home Assistant discovery: every component carries QoS 1 (Home Assistant ignores the device's), and a power in mW has no device class")
    func discoveryComponents() throws {
        let profile = try ProfileLoader.decode(
            relayProfile + """

                sensors: [{name: meter, model: ina219, bus: 1, units: {power: mW}}]
                discovery: true
                """, file: "test.yml")
        let components = Discovery(profile: profile).components
        #expect(!components.isEmpty)
        for component in components { #expect(component.config["qos"] == .number(1), "\(component.id)") }
        let power = try #require(components.first { $0.id == "meter_power" }?.config)
        #expect(power["unit_of_meas"] == .string("mW"))
        #expect(power["dev_cla"] == nil, "Home Assistant 2025.1 warns about mW for the power class")
        #expect(components.first { $0.id == "meter_current" }?.config["dev_cla"] == .string("current"))
    }

    @Test("publishers are announced as sensors when the profile asks: uptime as a duration in s, a number with its unit")
    func announcedPublishers() throws {
        let profile = try ProfileLoader.decode(
            relayProfile + """

                publishers:
                  - {name: uptime, interval: 5s, uptime: true, announce: true}
                  - {name: number, topic: test, interval: 3s, random: {min: 1, max: 499}, announce: true, unit: pcs}
                  - {name: hello, interval: 3s, text: hi}
                discovery: true
                """, file: "test.yml")
        let components = Discovery(profile: profile).components
        let uptime = try #require(components.first { $0.id == "uptime" }?.config)
        #expect(uptime["p"] == .string("sensor") && uptime["unit_of_meas"] == .string("s") && uptime["dev_cla"] == .string("duration"))
        #expect(uptime["stat_t"] == .string("gpiobridge/bench/uptime"))
        let number = try #require(components.first { $0.id == "number" }?.config)
        #expect(number["stat_t"] == .string("test") && number["unit_of_meas"] == .string("pcs") && number["stat_cla"] == .string("measurement"))
        #expect(!components.contains { $0.id == "hello" }, "a publisher is announced only when the profile asks")
        let refused = #expect(throws: ProfileError.self) {
            try ProfileLoader.decode(relayProfile + "\npublishers: [{name: up, interval: 5s, uptime: true, announce: true}]", file: "test.yml")
        }
        #expect(refused.map { "\($0)" }?.contains("announces the publisher to Home Assistant, but discovery is off") == true)
    }

    @Test("Home Assistant discovery: one retained device config with stable ids, resent when Home Assistant comes online")
    func discovery() async throws {
        let profile =
            relayProfile + """

                sensors: [{name: climate, model: bme280, bus: 1}]
                discovery: true
                """
        try await withMosquitto { broker in
            try await withAgent(profile, broker: broker) { rig in
                let topic = "homeassistant/device/gpiobridge_bench/config"
                let first = try await rig.expectMessage(topic)
                let config = try JSONValue(parsing: first.payloadString)
                #expect(config["dev"]?["ids"] == .array([.string("gpiobridge_bench")]))
                #expect(config["avty_t"] == .string("gpiobridge/bench/status"))
                #expect(config["cmps"]?["lamp"]?["p"] == .string("switch"))
                #expect(config["cmps"]?["lamp"]?["uniq_id"] == .string("gpiobridge_bench_lamp"))
                #expect(config["cmps"]?["lamp"]?["cmd_t"] == .string("gpiobridge/bench/lamp/set"))
                #expect(config["cmps"]?["button"]?["p"] == .string("binary_sensor"))
                #expect(config["cmps"]?["climate_temperature"]?["dev_cla"] == .string("temperature"))
                #expect(config["cmps"]?["climate_pressure"]?["unit_of_meas"] == .string("hPa"))
                let seen = rig.inbox.messages.count
                try await rig.publish("homeassistant/status", "online")
                let again = try await rig.expectMessage(topic, after: seen)
                #expect(again.payloadString == first.payloadString, "stable across announcements")
                try await rig.expectMessage("gpiobridge/bench/lamp", "OFF", after: seen)
            }
        }
    }

    @Test("a line that does not exist stops the start with the profile's location")
    func startFailure() async throws {
        try await withMosquitto { broker in
            let profile = try ProfileLoader.decode("device: {id: bench}\noutputs:\n  - {name: lamp, line: GPIO99}\n", file: "bad.yml")
            let chip = SimulatedChip(name: "gpiochip0", lineNames: ["GPIO17"])
            let agent = try Agent(
                profile: profile,
                configuration: try Agent.clientConfiguration(for: profile, override: BrokerURL("mqtt://127.0.0.1:\(broker.ports.plain)")),
                hardware: AgentHardware(chips: GPIOChips(chips: [chip]), openBus: { _ in SimulatedI2CBus() }),
                logger: testLogger("agent"), clientLogger: testLogger("agent-mqtt"))
            await #expect(throws: AgentStartError.self) { try await agent.run() }
            do {
                try await agent.run()
            } catch {
                #expect("\(error)" == "bad.yml:3:24: outputs[0].line: no GPIO line is named GPIO99; named lines: GPIO17")
            }
        }
    }
}
