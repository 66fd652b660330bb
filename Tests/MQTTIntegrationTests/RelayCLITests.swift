import Foundation
import MQTT
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("gpiobridge relay and profile validate on relay profiles")
struct RelayCLITests {
    @Test("profile validate and relay --check accept Profiles/fleet.yml and refuse a broken relay profile with its location")
    func validation() async throws {
        let valid = try await run(["profile", "validate", packageRoot + "/Profiles/fleet.yml"])
        #expect(valid.status == 0)
        #expect(
            valid.output.contains("a valid relay profile (relay fleet-relay; 3 boards, 1 link; discovers Tasmota and ESPHome)"), "\(valid.output)")
        let path = NSTemporaryDirectory() + "broken-relay-\(UUID().uuidString.prefix(8)).yml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "fleet: {host: localhost}\nboards:\n  - name: porch\n    esphome: {nod: porch}\n".write(toFile: path, atomically: true, encoding: .utf8)
        for arguments in [["profile", "validate", path], ["relay", "--check", "--profile", path]] {
            let broken = try await run(arguments)
            #expect(broken.status == 2)
            #expect(
                broken.output.contains("\(path):4:15: boards[0].esphome.nod: unknown setting \"nod\" (fix: did you mean \"node\"?)"),
                "\(broken.output)")
        }
    }

    @Test("profile show spells out each board's topics: availability, commands as the board takes them, values and links")
    func show() async throws {
        let shown = try await run(["profile", "show", packageRoot + "/Profiles/fleet.yml"])
        #expect(shown.status == 0)
        for line in [
            "    # gpiobridge/kitchen/status  <- tele/tasmota_A1B2C3/LWT",
            "    # gpiobridge/kitchen/light/set ON  -> cmnd/tasmota_A1B2C3/POWER1 ON",
            "    # gpiobridge/porch/light/set ON  -> porch/switch/relay_1/command ON",
            "    # gpiobridge/tutorial/status  <- its messages; offline after 9s of silence",
            "    # gpiobridge/tutorial/led/set ON  -> test 1",
            "  - {from: garage-pi/button, to: kitchen/light}",
        ] {
            #expect(shown.output.split(separator: "\n").contains(Substring(line)), "missing: \(line)\n\(shown.output)")
        }
    }

    @Test("the relay process mirrors a board, and on SIGTERM reports it and itself offline and exits 0", .needsMosquitto)
    func process() async throws {
        try await withMosquitto { broker in
            let port = "\(broker.ports.plain)"
            let relay = try ChildProcess(
                gpiobridge, ["relay", "--profile", packageRoot + "/Profiles/fleet.yml"],
                environment: ["GPIOBRIDGE_BROKER": "mqtt://127.0.0.1:\(port)"])
            let observer = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "observer"), logger: testLogger("observer"))
            let inbox = Inbox(observer)
            try await withRunningClients([observer]) {
                _ = try await observer.subscribe(to: "gpiobridge/#")
                try await inbox.expectMessage("gpiobridge/fleet-relay/status", "online")
                try await observer.publish(to: "tele/tasmota_A1B2C3/LWT", payload: "Online", qos: .atLeastOnce, retain: true)
                try await inbox.expectMessage("gpiobridge/kitchen/status", "online")
                await relay.terminate(SIGTERM)
                #expect(relay.exitStatus == 0)
                try await inbox.expectMessage("gpiobridge/kitchen/status", "offline")
                try await inbox.expectMessage("gpiobridge/fleet-relay/status", "offline")
            }
        }
    }
}
