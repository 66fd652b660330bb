import Foundation
import MQTT
import Testing

/// What users' brokers do that a tuned lab hides: retained commands left on a command topic, and
/// messages larger than the client takes. Each case runs on both protocol versions, against a
/// stock Mosquitto.
@Suite("Field conditions: retained and oversized commands on a stock Mosquitto", .needsMosquitto)
struct FieldConditionsTests {
    private static func profile(_ version: MQTTVersion) -> String {
        """
        device: {id: field}
        broker: {host: 127.0.0.1, protocol: "\(version == .v5 ? "5" : "3.1.1")"}
        outputs:
          - {name: heater, line: GPIO17, initial: off}
          - {name: lamp, line: GPIO18}
        """
    }

    /// Publishes `payload` to `topic` from a client of its own, before anything else runs.
    private static func publishAhead(_ broker: Mosquitto, _ topic: String, _ payload: String, retain: Bool) async throws {
        let publisher = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "ahead"), logger: testLogger("ahead"))
        try await withRunningClients([publisher]) {
            try await publisher.publish(MQTTMessage(topic: topic, payload: payload, qos: .atLeastOnce, retain: retain))
        }
    }

    @Test(
        "a retained ON on a command topic never moves the line at start; it is reported once with how to clear it",
        arguments: [MQTTVersion.v5, .v3_1_1])
    func retainedCommand(version: MQTTVersion) async throws {
        try await withMosquitto { broker in
            try await Self.publishAhead(broker, "gpiobridge/field/heater/set", "ON", retain: true)
            try await withAgent(Self.profile(version), broker: broker) { rig in
                // A live command's round trip: anything the broker sends at subscription time
                // (its retained messages) arrives before it.
                let seen = rig.inbox.messages.count
                try await rig.publish("gpiobridge/field/lamp/set", "ON")
                try await rig.expectMessage("gpiobridge/field/lamp", "ON", after: seen)
                #expect(try !rig.level("GPIO17"), "the retained ON did not switch the heater on")
                #expect(rig.payloads("gpiobridge/field/heater") == ["OFF"])
                if version == .v3_1_1 {
                    // 3.1.1 has no Retain Handling: the broker sends it, the agent refuses it.
                    let error = try await rig.expectMessage("gpiobridge/field/error")
                    #expect(error.payloadString.contains("gpiobridge pub -r -n -t 'gpiobridge/field/heater/set'"))
                    #expect(rig.log.all.contains { $0.message.contains("ignored a retained command") })
                } else {
                    // 5.0 asked the broker not to send it at all.
                    #expect(rig.payloads("gpiobridge/field/error").isEmpty)
                }
                // A live command still works, and is not taken for the retained one.
                try await rig.publish("gpiobridge/field/heater/set", "ON")
                try await rig.expectMessage("gpiobridge/field/heater", "ON", after: seen)
                #expect(try rig.level("GPIO17"))
                #expect(rig.payloads("gpiobridge/field/error").count <= 1, "reported once")
            }
        }
    }

    @Test(
        "a 1.1 MB QoS 1 command is skipped and acknowledged: the connection stays and the next command is served within 1 s",
        arguments: [MQTTVersion.v5, .v3_1_1])
    func oversizedCommand(version: MQTTVersion) async throws {
        try await withMosquitto { broker in
            try await withAgent(Self.profile(version), broker: broker) { rig in
                let seen = rig.inbox.messages.count
                let huge = String(repeating: "O", count: 1_100_000)
                try await rig.publish("gpiobridge/field/heater/set", huge)
                try await rig.publish("gpiobridge/field/lamp/set", "ON")
                try await rig.expectMessage("gpiobridge/field/lamp", "ON", after: seen, timeout: .seconds(1))
                if version == .v3_1_1 {
                    let error = try await rig.expectMessage("gpiobridge/field/error", after: seen)
                    #expect(error.payloadString.contains("over the limit of 1048576 bytes"))
                    #expect(error.payloadString.count < 300, "the report does not quote the payload")
                }
                // MQTT 5: the broker drops what exceeds our Maximum Packet Size and says nothing.
                #expect(rig.payloads("gpiobridge/field/status") == ["online"], "never disconnected")
                #expect(try !rig.level("GPIO17"))
            }
            // Acknowledged, so a later session is not handed it again (3.1.1 redelivered it for ever).
            try await withAgent(Self.profile(version), broker: broker) { rig in
                let seen = rig.inbox.messages.count
                try await rig.publish("gpiobridge/field/lamp/set", "OFF")
                try await rig.expectMessage("gpiobridge/field/lamp", "OFF", after: seen)
                #expect(rig.payloads("gpiobridge/field/status").filter { $0 == "online" }.count == 1)
                #expect(rig.payloads("gpiobridge/field/error").isEmpty, "the resumed session held nothing to skip again")
            }
        }
    }

    @Test(
        "the relay: a retained command for a board never reaches it, and a 1.1 MB one is refused on the board's error topic",
        arguments: [MQTTVersion.v5, .v3_1_1])
    func relay(version: MQTTVersion) async throws {
        let yaml = """
            relay: {id: hub}
            fleet: {host: 127.0.0.1, protocol: "\(version == .v5 ? "5" : "3.1.1")"}
            boards:
              - {name: kitchen, tasmota: {topic: tasmota_A1B2C3, relays: {light: 1}}}
            """
        try await withMosquitto { broker in
            try await Self.publishAhead(broker, "gpiobridge/kitchen/light/set", "ON", retain: true)
            let kitchen = try TasmotaBoard(topic: "tasmota_A1B2C3", port: broker.ports.plain)
            try await withRunningClients([kitchen.client]) {
                try await withRelay(yaml, fleet: broker) { relay in
                    try await relay.expectMessage("gpiobridge/kitchen/status", "online")
                    var mark = relay.seen
                    try await relay.publish("gpiobridge/kitchen/light/set", "OFF")
                    try await relay.expectMessage("gpiobridge/kitchen/light", "OFF", after: mark)
                    // The board's answer to the relay's STATE may be the OFF seen: wait for the command.
                    try await eventually("only the live command reached the board") { kitchen.commands == ["POWER1 OFF"] }
                    if version == .v3_1_1 {
                        let error = try await relay.expectMessage("gpiobridge/kitchen/error")
                        #expect(error.payloadString.contains("a retained command never moves an output"))
                    }
                    mark = relay.seen
                    try await relay.publish("gpiobridge/kitchen/light/set", String(repeating: "O", count: 1_100_000))
                    try await relay.publish("gpiobridge/kitchen/light/set", "ON")
                    try await relay.expectMessage("gpiobridge/kitchen/light", "ON", after: mark, timeout: .seconds(1))
                    if version == .v3_1_1 {
                        let error = try await relay.expectMessage("gpiobridge/kitchen/error", after: mark)
                        #expect(error.payloadString.contains("over the limit"))
                    }
                    #expect(kitchen.commands == ["POWER1 OFF", "POWER1 ON"])
                }
            }
        }
    }
}
