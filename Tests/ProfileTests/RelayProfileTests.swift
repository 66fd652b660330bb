import Foundation
import Profile
import Testing

@Suite("Relay profiles")
struct RelayProfileTests {
    @Test("fleet.yml: one board of each flavour, the tutorial board among them, discovery, a buffer and a link")
    func fleet() throws {
        let profile = try ProfileLoader.loadRelay(path: profilesDirectory.appendingPathComponent("fleet.yml").path)
        #expect(profile.id == "fleet-relay")
        #expect(profile.boardsBroker == nil)
        #expect(profile.boards.map(\.name) == ["kitchen", "porch", "tutorial"])
        #expect(
            profile.boards[0].flavour
                == .tasmota(
                    topic: "tasmota_A1B2C3", fullTopic: "%prefix%/%topic%/",
                    relays: [MirroredName(name: "light", board: "1")],
                    sensors: [
                        MirroredName(name: "temperature", board: "BME280.Temperature"),
                        MirroredName(name: "humidity", board: "BME280.Humidity"),
                    ]))
        #expect(
            profile.boards[1].flavour
                == .esphome(
                    prefix: "porch", switches: [MirroredName(name: "light", board: "relay_1")],
                    binarySensors: [MirroredName(name: "motion", board: "motion")],
                    sensors: [MirroredName(name: "temperature", board: "temperature")], silenceMilliseconds: nil),
            "ESPHome's object ids come from the entities' names")
        #expect(
            profile.boards[2].flavour
                == .pubsubclient(
                    intervalMilliseconds: 3000, silentIntervals: 3,
                    values: [PlainValue(name: "number", topic: "test")], inputs: [],
                    commands: [PlainTopic(name: "led", topic: "test", on: "1", off: "0")], match: nil))
        #expect(profile.discoverTasmota && profile.discoverESPHome && profile.homeAssistant.enabled)
        #expect(profile.bufferCapacity == 100 && profile.bufferMaximumAgeMilliseconds == 300_000)
        #expect(profile.links.map { "\($0.fromDevice)/\($0.fromName)->\($0.toDevice)/\($0.toName)" } == ["garage-pi/button->kitchen/light"])
    }

    @Test("a plain sketch: numbers, a number inside JSON, inputs by their words, and commands")
    func plainSketch() throws {
        let profile = try ProfileLoader.decodeRelay(
            """
            boards:
              - name: shed
                pubsubclient:
                  interval: 10s
                  values: {uptime: shed/uptime, temperature: {topic: shed/climate, json: bme.temp}}
                  inputs: {door: {topic: shed/door, on: open, off: closed}, light: shed/light}
                  commands: {heater: {topic: shed/heater/set, on: "on", off: "off"}}
            """, file: "t.yml")
        #expect(
            profile.boards[0].flavour
                == .pubsubclient(
                    intervalMilliseconds: 10_000, silentIntervals: 3,
                    values: [
                        PlainValue(name: "uptime", topic: "shed/uptime"),
                        PlainValue(name: "temperature", topic: "shed/climate", jsonPath: ["bme", "temp"]),
                    ],
                    inputs: [
                        PlainTopic(name: "door", topic: "shed/door", on: "open", off: "closed"),
                        PlainTopic(name: "light", topic: "shed/light", on: "ON", off: "OFF"),
                    ],
                    commands: [PlainTopic(name: "heater", topic: "shed/heater/set", on: "on", off: "off")], match: nil))
    }

    @Test(
        "mistakes are located like an agent profile's",
        arguments: [
            (
                "boards: [{name: a}]\n",
                "t.yml:1:10: boards[0]: says nothing about the board's firmware (fix: give exactly one of tasmota:, esphome: or pubsubclient:)"
            ),
            (
                "boards: [{name: a, tasmota: {topic: t, relays: {light: 40}}}]\n",
                "t.yml:1:56: boards[0].tasmota.relays.light: \"40\" is not a relay number (POWER1 is 1, up to 32)"
            ),
            (
                "boards: [{name: a, pubsubclient: {values: {n: test}}}]\n",
                "t.yml:1:34: boards[0].pubsubclient.interval: missing (fix: add interval: 3s (how often the sketch publishes))"
            ),
            (
                "boards: [{name: a, pubsubclient: {interval: 1s, values: {t: {topic: a/+}}}}]\n",
                "t.yml:1:69: boards[0].pubsubclient.values.t.topic: \"a/+\" is not a topic without wildcards"
            ),
            (
                "boards: [{name: a, pubsubclient: {interval: 1s, inputs: {door: {on: open}}}}]\n",
                "t.yml:1:64: boards[0].pubsubclient.inputs.door.topic: missing (fix: add topic: home/door)"
            ),
            (
                "relay: {id: hub}\nboards: [{name: hub, pubsubclient: {interval: 1s}}]\n",
                "t.yml:2:17: boards[0].name: the board name \"hub\" is the relay's own id: both would publish gpiobridge/hub/status (fix: rename the board, or set relay: {id: ...})"
            ),
            ("fleet: {prot: 5}\n", "t.yml:1:9: fleet.prot: unknown setting \"prot\" (fix: did you mean \"port\"?)"),
            ("links: [{from: a, to: b/c}]\n", "t.yml:1:16: links[0].from: \"a\" is not device/name (fix: write garage-pi/button)"),
        ])
    func mistakes(text: String, expected: String) {
        do {
            _ = try ProfileLoader.decodeRelay(text, file: "t.yml")
            Issue.record("accepted")
        } catch {
            #expect(error.issues.map(\.description) == [expected])
        }
    }

    @Test("a sensor's unit and device_class are checked against what Home Assistant takes")
    func sensorClasses() throws {
        let relay = try ProfileLoader.decodeRelay(
            """
            fleet: {host: localhost}
            boards:
              - {name: shed, pubsubclient: {interval: 3s, values: {soil: {topic: shed/soil, unit: "%", device_class: moisture}}}}
              - {name: porch, esphome: {node: porch, sensors: {temperature: {id: temperature, unit: °F}}}}
            """, file: "classes.yml")
        guard case .pubsubclient(_, _, let values, _, _, _) = relay.boards[0].flavour else {
            Issue.record("not a sketch")
            return
        }
        #expect(values == [PlainValue(name: "soil", topic: "shed/soil", unit: "%", deviceClass: "moisture")])
        guard case .esphome(_, _, _, let sensors, _) = relay.boards[1].flavour else {
            Issue.record("not a node")
            return
        }
        #expect(sensors == [MirroredName(name: "temperature", board: "temperature", unit: "°F")])
        let error = #expect(throws: ProfileError.self) {
            try ProfileLoader.decodeRelay(
                """
                fleet: {host: localhost}
                boards:
                  - {name: meter, tasmota: {topic: m, sensors: {power: {field: ENERGY.Power, unit: mW, device_class: power}, hue: {field: X.Hue, device_class: colour}}}}
                """, file: "bad.yml")
        }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("Home Assistant does not take mW for power (fix: use W, kW, MW, GW, TW)"), "\(text)")
        #expect(text.contains("\"colour\" is not a Home Assistant device class for numbers"), "\(text)")
    }
}
