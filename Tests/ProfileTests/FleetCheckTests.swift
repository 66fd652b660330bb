import Foundation
import Profile
import Testing

private func example(_ name: String) throws -> String { profilesDirectory.appendingPathComponent(name).path }

@Suite("Profiles side by side in one fleet")
struct FleetCheckTests {
    @Test("the examples run side by side: fleet.yml, tutorial.yml, demo.yml, relay.yml and sensors.yml claim nothing twice")
    func examples() throws {
        let agents = try ["tutorial.yml", "demo.yml", "relay.yml", "sensors.yml"].map {
            try ProfileLoader.load(path: try example($0), checkingFiles: false)
        }
        let fleet = try ProfileLoader.loadRelay(path: try example("fleet.yml"), checkingFiles: false)
        #expect(FleetCheck.warnings(agents: agents, relays: [fleet]).isEmpty)
    }

    @Test("an agent with a board's id, publishing on the board's topic, is warned about, with the place and a fix")
    func agentOverBoard() throws {
        let fleet = try ProfileLoader.loadRelay(path: try example("fleet.yml"), checkingFiles: false)
        let sketch = try ProfileLoader.decode(
            """
            device: {id: tutorial}
            publishers:
              - {name: number, topic: test, interval: 3s, random: {min: 1, max: 499}}
            """, file: "pi.yml")
        let warnings = FleetCheck.warnings(agents: [sketch], relays: [fleet])
        #expect(warnings.count == 2)
        #expect(warnings.first?.description.contains("warning: boards[2].name: the device id tutorial is already the agent of pi.yml") == true)
        #expect(
            warnings.last?.description.hasPrefix(
                "pi.yml:3:27: warning: publishers[0].topic: the agent publishes to test, which the relay reads as board tutorial") == true)
        #expect(warnings.last?.hint.contains("gpiobridge/tutorial/number") == true)
    }

    @Test("two plain boards on one topic would take each other's messages: warned in one relay profile")
    func boardsOnOneTopic() throws {
        let relay = try ProfileLoader.decodeRelay(
            """
            fleet: {host: localhost}
            boards:
              - {name: shed, pubsubclient: {interval: 3s, values: {number: test}}}
              - {name: garage, pubsubclient: {interval: 3s, values: {number: test}}}
            """, file: "two.yml")
        let warnings = FleetCheck.warnings(agents: [], relays: [relay])
        #expect(
            warnings.map(\.description) == [
                "two.yml:4:5: warning: boards[1]: board garage reads test, as board shed of two.yml does: each would take the other's messages for its own (fix: give each sketch its own topic, such as garage/test, or say which messages are whose with match: {json: ..., equals: ...})"
            ])
        let told = try ProfileLoader.decodeRelay(
            """
            fleet: {host: localhost}
            boards:
              - {name: shed, pubsubclient: {interval: 3s, values: {t: {topic: home/climate, json: temp}}, match: {json: board, equals: shed}}}
              - {name: garage, pubsubclient: {interval: 3s, values: {t: {topic: home/climate, json: temp}}, match: {json: board, equals: garage}}}
            """, file: "told.yml")
        #expect(FleetCheck.warnings(agents: [], relays: [told]).isEmpty, "each says which messages are its own")
    }
}
