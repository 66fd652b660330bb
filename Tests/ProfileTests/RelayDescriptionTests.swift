import Foundation
import Relay
import Testing

@testable import Profile

@Suite("profile show for a relay profile")
struct RelayDescriptionTests {
    @Test("fleet.yml shown is a relay profile that validates and means the same; its topics are spelled out in comments")
    func roundTrip() throws {
        let profile = try ProfileLoader.loadRelay(path: profilesDirectory.appendingPathComponent("fleet.yml").path, checkingFiles: false)
        let shown = profile.resolvedDescription
        let again = try ProfileLoader.decodeRelay(shown, file: "shown.yml", checkingFiles: false)
        #expect(withoutOrigins(again) == withoutOrigins(profile), "\(shown)")
        #expect(again.resolvedDescription.split(separator: "\n").dropFirst() == shown.split(separator: "\n").dropFirst())
        #expect(shown.contains("    # gpiobridge/kitchen/light/set ON  -> cmnd/tasmota_A1B2C3/POWER1 ON"), "\(shown)")
        #expect(shown.contains("  max_boards: 1000"))
    }

    @Test("every flavour's settings survive the round trip, with a boards broker and words that need quoting")
    func everyFlavour() throws {
        let yaml = """
            relay: {id: hub}
            fleet: {host: cloud.example, port: 8883, tls: true, username: hub, password_env: HUB_PASSWORD}
            boards_broker: {host: 192.168.1.10, protocol: 3.1.1}
            boards:
              - name: shed
                pubsubclient:
                  interval: 1500ms
                  values: {temperature: {topic: shed/climate, json: bme.temp, unit: °C, device_class: temperature}, raw: shed/raw}
                  inputs: {door: {topic: shed/door, on: "open: yes", off: "#closed"}}
                  commands: {lamp: {topic: shed/lamp, on: "on", off: "off"}}
                  match: {json: who.id, equals: "7"}
              - name: hall
                tasmota: {topic: hall_01, full_topic: "%topic%/%prefix%/", relays: {a: 1, b: 2}, sensors: {power: {field: ENERGY.Power, unit: kW}}}
              - name: porch
                esphome:
                  node: porch
                  prefix: home/porch
                  silence: 5m
                  binary_sensors: {motion: pir}
                  switches: {light: {id: relay_1, state_topic: porch/light, command_topic: porch/light/set}}
                  sensors: {soil: {id: soil, state_topic: porch/soil, unit: "%", device_class: moisture}}
            discover: {tasmota: true, max_boards: 20}
            buffer: {commands: 0, max_age: 1h}
            discovery: {enabled: true, prefix: ha}
            links: [{from: shed/door, to: hall/a}]
            """
        let profile = try ProfileLoader.decodeRelay(yaml, file: "hub.yml", checkingFiles: false)
        let shown = profile.resolvedDescription
        let again = try ProfileLoader.decodeRelay(shown, file: "shown.yml", checkingFiles: false)
        #expect(withoutOrigins(again) == withoutOrigins(profile), "\(shown)")
    }
}
