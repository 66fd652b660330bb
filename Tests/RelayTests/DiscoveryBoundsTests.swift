import JSON
import Profile
import Testing

@testable import Relay

private let start = ContinuousClock.now
private func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

private func core(_ discover: String) throws -> RelayCore {
    let profile = try ProfileLoader.decodeRelay(
        "relay: {id: hub}\nfleet: {host: localhost}\ndiscover: \(discover)\ndiscovery: true", file: "test.yml")
    var core = RelayCore(profile: profile, at: at(0), unixNow: 0)
    _ = core.fleetConnected(at: at(0))
    return core
}

private func tasmota(_ index: Int, topic: String? = nil, relays: Int = 1) -> (topic: String, payload: String) {
    let mac = "AABBCC" + String(repeating: "0", count: 6 - String(index, radix: 16).count) + String(index, radix: 16).uppercased()
    let kinds = Array(repeating: "1", count: relays).joined(separator: ",")
    return ("tasmota/discovery/\(mac)/config", #"{"mac":"\#(mac)","t":"\#(topic ?? "fake_\(index)")","rl":[\#(kinds)],"ver":1}"#)
}

private func errors(_ actions: [RelayCore.Action]) -> [String] {
    actions.compactMap {
        guard case .publish("gpiobridge/hub/error", let payload, _) = $0, case .string(let error)? = try? JSONValue(parsing: payload)["error"] else {
            return nil
        }
        return error
    }
}

private func logs(_ actions: [RelayCore.Action]) -> [String] {
    actions.compactMap { if case .log(let text) = $0 { text } else { nil } }
}

@Suite("What boards announce is bounded: boards, size, components and names (mock clock)")
struct DiscoveryBoundsTests {
    @Test("past discover.max_boards, announced boards are not mirrored: reported once a minute, then counted")
    func boardLimit() throws {
        var core = try core("{tasmota: true, esphome: true, max_boards: 3}")
        var actions: [RelayCore.Action] = []
        for index in 0..<50 {
            let (topic, payload) = tasmota(index)
            actions += core.boardMessage(topic: topic, payload: payload, at: at(1))
        }
        let node = #"{"stat_t":"n1/switch/x/state","cmd_t":"n1/switch/x/command","dev":{"ids":"n1","sw":"esphome v2024.6.1"}}"#
        actions += core.boardMessage(topic: "homeassistant/switch/n1/x/config", payload: node, at: at(2))
        actions += core.tick(at: at(2.5))
        #expect(core.boardNames == ["fake_0", "fake_1", "fake_2"])
        #expect(
            errors(actions) == [
                "a tasmota board announced itself as fake_3, but 3 announced boards are mirrored already (discover.max_boards); it is not mirrored"
            ])
        #expect(logs(actions).filter { $0.contains("max_boards") }.count == 1, "logged once, not 48 times")
        let due = core.nextDeadline()
        #expect(due.map { $0 <= at(61) } == true, "the count is due when the minute ends")
        let summary = core.tick(at: at(61))
        #expect(errors(summary) == ["47 more announcements were not taken (over discover.max_boards) in the last 60.0 seconds"])
        // A board that leaves makes room for the next.
        _ = core.boardMessage(topic: tasmota(0).topic, payload: "", at: at(62))
        _ = core.boardMessage(topic: tasmota(49).topic, payload: tasmota(49).payload, at: at(63))
        #expect(core.boardNames == ["fake_1", "fake_2", "fake_49"])
    }

    @Test("an announcement over 16 KiB is not read; relays past POWER32 and readings past 64 are not taken")
    func sizeAndComponents() throws {
        var core = try core("{tasmota: true}")
        let huge = tasmota(1, relays: 10_000)
        #expect(huge.payload.utf8.count > RelayCore.maximumAnnouncementBytes)
        let refused = core.boardMessage(topic: huge.topic, payload: huge.payload, at: at(1))
        #expect(core.boardNames.isEmpty)
        #expect(errors(refused).first?.hasSuffix("over the 16384 an announcement may have; it is ignored") == true, "\(errors(refused))")
        let many = tasmota(2, relays: 40)
        let taken = core.boardMessage(topic: many.topic, payload: many.payload, at: at(2))
        #expect(core.mirror(of: "fake_2")?.dialect.outputs.count == 32)
        #expect(errors(taken) == ["tasmota/discovery/AABBCC000002/config announces 8 relays beyond POWER32; they are ignored"])
        let fields = (0..<100).map { #""T\#($0)":\#($0)"# }.joined(separator: ",")
        // A minute later, so that this kind of report is not held back as the last one was.
        let readings = core.boardMessage(topic: "tasmota/discovery/AABBCC000002/sensors", payload: #"{"sn":{"X":{\#(fields)}}}"#, at: at(70))
        #expect(core.mirror(of: "fake_2")?.dialect.sensors.count == 64)
        #expect(errors(readings) == ["tasmota/discovery/AABBCC000002/sensors announces 100 readings; the first 64 are mirrored"])
    }

    @Test("an ESPHome node takes at most 64 components")
    func esphomeComponents() throws {
        var core = try core("{esphome: true}")
        var actions: [RelayCore.Action] = []
        for index in 0..<70 {
            let config =
                #"{"stat_t":"big/switch/s\#(index)/state","cmd_t":"big/switch/s\#(index)/command","dev":{"ids":"big","sw":"esphome v2024.6.1"}}"#
            actions += core.boardMessage(topic: "homeassistant/switch/big/s\(index)/config", payload: config, at: at(1))
        }
        _ = core.tick(at: at(1.5))
        #expect(core.mirror(of: "big")?.dialect.outputs.count == 64)
        #expect(errors(actions) == ["ESPHome node big announces more than 64 components; homeassistant/switch/big/s64/config is ignored"])
    }

    @Test(
        "a Topic, prefix, FullTopic or state topic with +, # or an empty level is refused, so no subscription widens",
        arguments: [
            (tasmota(1, topic: "+").payload, "its topic \"+\" has +, # or an empty level"),
            (tasmota(1, topic: "a//b").payload, "its topic \"a//b\" has +, # or an empty level"),
            (##"{"t":"ok","tp":["cmnd","#","tele"],"rl":[1]}"##, "its prefixes (\"tp\") have +, # or an empty level"),
            (#"{"t":"ok","ft":"%prefix%/+/%topic%/","rl":[1]}"#, "its FullTopic \"%prefix%/+/%topic%/\" has +, # or an empty level"),
        ])
    func wildcardNames(payload: String, reason: String) throws {
        var core = try core("{tasmota: true}")
        let actions = core.boardMessage(topic: "tasmota/discovery/AABBCC000001/config", payload: payload, at: at(1))
        #expect(core.boardNames.isEmpty)
        #expect(errors(actions) == ["tasmota/discovery/AABBCC000001/config is not understood: \(reason)"])
    }

    @Test("an ESPHome state topic with a wildcard is refused")
    func esphomeWildcard() throws {
        var core = try core("{esphome: true}")
        let config = ##"{"stat_t":"#/switch/x/state","cmd_t":"n/switch/x/command","dev":{"ids":"n","sw":"esphome v2024.6.1"}}"##
        let actions = core.boardMessage(topic: "homeassistant/switch/n/x/config", payload: config, at: at(1))
        #expect(core.boardNames.isEmpty)
        #expect(errors(actions).first?.contains("with +, # or an empty level") == true, "\(errors(actions))")
    }
}
