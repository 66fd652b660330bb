import JSON
import MQTTCore
import Profile
import Scheme
import Testing

@testable import Relay

private let start = ContinuousClock.now
private func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

private func profile(_ yaml: String) throws -> RelayProfile {
    try ProfileLoader.decodeRelay(yaml, file: "test.yml")
}

private let fleetYAML = """
    relay: {id: hub}
    fleet: {host: localhost}
    boards:
      - name: kitchen
        tasmota: {topic: tasmota_A1B2C3, relays: {light: 1}, sensors: {temperature: BME280.Temperature}}
      - name: tutorial
        pubsubclient: {interval: 3s, silent_intervals: 3, values: {number: test}, commands: {led: {topic: test}}}
    """

private func retained(_ actions: [RelayCore.Action]) -> [String: String] {
    var topics: [String: String] = [:]
    for case .retain(let topic, let payload, _) in actions { topics[topic] = payload }
    return topics
}

private func sent(_ actions: [RelayCore.Action]) -> [String] {
    actions.compactMap { if case .send(let topic, let payload, _) = $0 { "\(topic) \(payload)" } else { nil } }
}

private func published(_ actions: [RelayCore.Action]) -> [String] {
    actions.compactMap { if case .publish(let topic, let payload, _) = $0 { "\(topic) \(payload)" } else { nil } }
}

@Suite("The relay's core: routing, commands, announcements and links (mock clock)")
struct RelayCoreTests {
    @Test("start subscribes each board's topics and command topics; connecting announces the relay and its boards")
    func startAndAnnounce() throws {
        var core = RelayCore(profile: try profile(fleetYAML), at: at(0), unixNow: 1_000)
        let start = core.start()
        guard case .subscribeBoards(let boardFilters) = start[0], case .subscribeCommands(let commandFilters) = start[1] else {
            Issue.record("unexpected \(start)")
            return
        }
        #expect(
            Set(boardFilters) == [
                "tele/tasmota_A1B2C3/LWT", "tele/tasmota_A1B2C3/STATE", "tele/tasmota_A1B2C3/SENSOR",
                "stat/tasmota_A1B2C3/+", "test",
            ])
        #expect(commandFilters == ["gpiobridge/kitchen/+/set", "gpiobridge/tutorial/+/set"])
        _ = core.boardsBroker(up: true, at: at(0))
        let announced = retained(core.fleetConnected(at: at(1)))
        #expect(announced["gpiobridge/hub/status"] == "online")
        #expect(announced["gpiobridge/kitchen/info"]?.contains(#""kind":"tasmota""#) == true)
        #expect(announced["gpiobridge/kitchen/info"]?.contains(#""via":"hub""#) == true)
        #expect(announced["gpiobridge/kitchen/status"] == nil, "its retained LWT has a moment to arrive: no flicker")
        #expect(core.nextDeadline() == at(2))
        #expect(retained(core.tick(at: at(2)))["gpiobridge/kitchen/status"] == "offline", "not heard from: an old online must not stand")
        let shutdown = retained(core.shutdown(at: at(2)))
        #expect(shutdown["gpiobridge/kitchen/status"] == "offline")
        #expect(shutdown["gpiobridge/tutorial/status"] == "offline")
        #expect(shutdown["gpiobridge/hub/status"] == "offline")
    }

    @Test("board messages become fleet topics; fleet commands become the board's spelling")
    func translation() throws {
        var core = RelayCore(profile: try profile(fleetYAML), at: at(0), unixNow: 1_000)
        _ = core.boardsBroker(up: true, at: at(0))
        _ = core.fleetConnected(at: at(0))
        let online = core.boardMessage(topic: "tele/tasmota_A1B2C3/LWT", payload: "Online", at: at(1))
        #expect(retained(online)["gpiobridge/kitchen/status"] == "online")
        #expect(retained(online)["gpiobridge/kitchen/info"]?.contains(#""seen":1001"#) == true, "seen is the wall clock of the message")
        #expect(
            retained(core.boardMessage(topic: "stat/tasmota_A1B2C3/RESULT", payload: #"{"Power1":"ON"}"#, at: at(2)))
                == ["gpiobridge/kitchen/light": "ON"])
        #expect(
            retained(core.boardMessage(topic: "tele/tasmota_A1B2C3/SENSOR", payload: #"{"BME280":{"Temperature":21.5}}"#, at: at(3)))
                == ["gpiobridge/kitchen/temperature": "21.5"], "values are retained, as states are")
        #expect(sent(core.fleetMessage(topic: "gpiobridge/kitchen/light/set", payload: "off", at: at(4))) == ["cmnd/tasmota_A1B2C3/POWER1 OFF"])
        #expect(sent(core.fleetMessage(topic: "gpiobridge/kitchen/light/set", payload: "", at: at(5))) == ["cmnd/tasmota_A1B2C3/STATE "])
        // The tutorial board reports no state: what was sent is its state. It is heard from first.
        _ = core.boardMessage(topic: "test", payload: "42", at: at(6))
        let led = core.fleetMessage(topic: "gpiobridge/tutorial/led/set", payload: "ON", at: at(6))
        #expect(sent(led) == ["test 1"])
        #expect(retained(led)["gpiobridge/tutorial/led"] == "ON")
        let bad = core.fleetMessage(topic: "gpiobridge/kitchen/light/set", payload: "blink", at: at(7))
        #expect(sent(bad).isEmpty)
        #expect(
            published(bad).first?.hasPrefix(#"gpiobridge/kitchen/error {"topic":"gpiobridge/kitchen/light/set","payload":"blink","error":"#) == true)
        #expect(
            published(core.fleetMessage(topic: "gpiobridge/kitchen/fan/set", payload: "ON", at: at(8)))
                .first?.contains("fan is not an output of this board") == true)
    }

    @Test("reports and commands go on with the QoS they came with; what the relay states on its own with QoS 1")
    func passedOnAtTheirQoS() throws {
        var core = RelayCore(profile: try profile(fleetYAML + "\nlinks: [{from: garage-pi/button, to: kitchen/light}]"), at: at(0), unixNow: 1_000)
        _ = core.boardsBroker(up: true, at: at(0))
        _ = core.fleetConnected(at: at(0))
        let online = core.boardMessage(topic: "tele/tasmota_A1B2C3/LWT", payload: "Online", qos: .atMostOnce, at: at(1))
        #expect(
            online.contains(.retain(topic: "gpiobridge/kitchen/status", payload: "online", qos: .atLeastOnce)), "availability is the relay's word")
        #expect(online.contains(.send(topic: "cmnd/tasmota_A1B2C3/STATE", payload: "", qos: .atLeastOnce)), "the relay's own question")
        let report = core.boardMessage(topic: "stat/tasmota_A1B2C3/RESULT", payload: #"{"Power1":"ON"}"#, qos: .atMostOnce, at: at(2))
        #expect(report == [.retain(topic: "gpiobridge/kitchen/light", payload: "ON", qos: .atMostOnce)])
        let reading = core.boardMessage(
            topic: "tele/tasmota_A1B2C3/SENSOR", payload: #"{"BME280":{"Temperature":21.5}}"#, qos: .atLeastOnce, at: at(3))
        #expect(reading == [.retain(topic: "gpiobridge/kitchen/temperature", payload: "21.5", qos: .atLeastOnce)])
        for qos in [QoS.atMostOnce, .atLeastOnce, .exactlyOnce] {
            #expect(
                core.fleetMessage(topic: "gpiobridge/kitchen/light/set", payload: "OFF", qos: qos, at: at(4))
                    == [.send(topic: "cmnd/tasmota_A1B2C3/POWER1", payload: "OFF", qos: qos)])
        }
        // The tutorial board reports no state: the state a command sets goes on with the command's QoS.
        _ = core.boardMessage(topic: "test", payload: "42", qos: .atMostOnce, at: at(5))
        let led = core.fleetMessage(topic: "gpiobridge/tutorial/led/set", payload: "ON", qos: .atMostOnce, at: at(5))
        #expect(
            led == [.send(topic: "test", payload: "1", qos: .atMostOnce), .retain(topic: "gpiobridge/tutorial/led", payload: "ON", qos: .atMostOnce)])
        // A link's command is the relay's own, whatever the QoS of the state that moved it.
        _ = core.fleetMessage(topic: "gpiobridge/garage-pi/button", payload: "ON", qos: .atMostOnce, at: at(6))
        let linked = core.fleetMessage(topic: "gpiobridge/garage-pi/button", payload: "OFF", qos: .atMostOnce, at: at(7))
        #expect(linked.contains(.send(topic: "cmnd/tasmota_A1B2C3/POWER1", payload: "OFF", qos: .atLeastOnce)), "\(linked)")
        // After a reconnect the relay states every record again, with QoS 1: a QoS 0 state lost
        // with the old connection is repaired.
        let again = core.fleetConnected(at: at(8))
        #expect(again.contains(.retain(topic: "gpiobridge/kitchen/light", payload: "ON", qos: .atLeastOnce)))
        #expect(again.contains(.retain(topic: "gpiobridge/tutorial/led", payload: "ON", qos: .atLeastOnce)))
    }

    @Test("a retained command never reaches the board: it is reported once per topic with how to clear it")
    func retainedCommand() throws {
        var core = RelayCore(profile: try profile(fleetYAML), at: at(0), unixNow: 1_000)
        _ = core.boardsBroker(up: true, at: at(0))
        _ = core.fleetConnected(at: at(0))
        _ = core.boardMessage(topic: "tele/tasmota_A1B2C3/LWT", payload: "Online", at: at(1))
        let first = core.fleetMessage(topic: "gpiobridge/kitchen/light/set", payload: "ON", retained: true, at: at(2))
        #expect(sent(first).isEmpty)
        #expect(published(first).first?.contains("gpiobridge pub -r -n -t 'gpiobridge/kitchen/light/set'") == true)
        #expect(
            core.fleetMessage(topic: "gpiobridge/kitchen/light/set", payload: "ON", retained: true, at: at(3)).isEmpty,
            "reported once")
        #expect(
            sent(core.fleetMessage(topic: "gpiobridge/kitchen/light/set", payload: "ON", at: at(4))) == ["cmnd/tasmota_A1B2C3/POWER1 ON"],
            "a live command still works")
    }

    @Test("a plain board is offline after its silence limit from the start, and when heard from is online")
    func silence() throws {
        var core = RelayCore(profile: try profile(fleetYAML), at: at(0), unixNow: 1_000)
        _ = core.boardsBroker(up: true, at: at(0))
        _ = core.fleetConnected(at: at(0))
        #expect(retained(core.tick(at: at(2)))["gpiobridge/kitchen/status"] == "offline", "the Tasmota board's settle time")
        #expect(core.nextDeadline() == at(9))
        #expect(retained(core.tick(at: at(9.5)))["gpiobridge/tutorial/status"] == "offline")
        let heard = core.boardMessage(topic: "test", payload: "17", at: at(10))
        #expect(retained(heard)["gpiobridge/tutorial/status"] == "online")
        #expect(retained(heard)["gpiobridge/tutorial/number"] == "17")
    }

    @Test("a lost boards broker takes every board offline; commands wait and go out when it returns")
    func boardsBrokerLost() throws {
        var core = RelayCore(profile: try profile(fleetYAML + "\nboards_broker: {host: lan}"), at: at(0), unixNow: 1_000)
        _ = core.boardsBroker(up: true, at: at(0))
        _ = core.boardMessage(topic: "tele/tasmota_A1B2C3/LWT", payload: "Online", at: at(0))
        #expect(retained(core.boardsBroker(up: false, at: at(1)))["gpiobridge/kitchen/status"] == "offline")
        #expect(sent(core.fleetMessage(topic: "gpiobridge/kitchen/light/set", payload: "ON", at: at(2))).isEmpty)
        let atMostOnce = core.fleetMessage(topic: "gpiobridge/kitchen/light/set", payload: "OFF", qos: .atMostOnce, at: at(2))
        #expect(
            published(atMostOnce).first?.contains("the board is offline; send the command with QoS 1") == true,
            "QoS 0 promises nothing: refused at once")
        let back = core.boardsBroker(up: true, at: at(3))
        #expect(
            back.contains { if case .subscribeBoards(let filters) = $0 { filters.contains("tele/tasmota_A1B2C3/LWT") } else { false } },
            "subscribing again brings the retained LWT back")
        #expect(sent(back).isEmpty, "nothing goes out before the board is known to be alive")
        let alive = core.boardMessage(topic: "tele/tasmota_A1B2C3/LWT", payload: "Online", at: at(4))
        #expect(retained(alive)["gpiobridge/kitchen/status"] == "online")
        #expect(sent(alive) == ["cmnd/tasmota_A1B2C3/STATE ", "cmnd/tasmota_A1B2C3/POWER1 ON"], "asked for its state, then the command")
    }

    @Test("a boards' broker never reached: the fleet is told its boards are offline, whichever side comes first")
    func boardsBrokerNeverReached() throws {
        let lan = fleetYAML + "\nboards_broker: {host: lan}"
        var core = RelayCore(profile: try profile(lan), at: at(0), unixNow: 0)
        _ = core.fleetConnected(at: at(0))
        #expect(retained(core.boardsBroker(up: false, at: at(1)))["gpiobridge/kitchen/status"] == "offline")
        var late = RelayCore(profile: try profile(lan), at: at(0), unixNow: 0)
        _ = late.boardsBroker(up: false, at: at(0))
        #expect(retained(late.fleetConnected(at: at(1)))["gpiobridge/kitchen/status"] == "offline")
    }

    @Test("one broker for boards and fleet restarts: no offline-then-online flap; the board is asked again; silence past the settle time is offline")
    func sharedBrokerRestart() throws {
        var core = RelayCore(profile: try profile(fleetYAML), at: at(0), unixNow: 0)
        _ = core.boardsBroker(up: true, at: at(0))
        _ = core.fleetConnected(at: at(0))
        #expect(
            retained(core.boardMessage(topic: "tele/tasmota_A1B2C3/LWT", payload: "Online", at: at(0.1)))["gpiobridge/kitchen/status"] == "online")
        // The broker goes away: the fleet side first, as the relay service reports it.
        core.fleetLost()
        #expect(retained(core.boardsBroker(up: false, at: at(1))).isEmpty, "nobody could hear it, and on return it would be a flap")
        #expect(retained(core.tick(at: at(5)))["gpiobridge/kitchen/status"] == nil)
        _ = core.boardsBroker(up: true, at: at(10))
        let back = core.fleetConnected(at: at(10))
        #expect(retained(back)["gpiobridge/kitchen/status"] == "online", "what the fleet was told stands until the board says otherwise")
        #expect(
            retained(core.boardMessage(topic: "tele/tasmota_A1B2C3/LWT", payload: "Offline", at: at(10.02)))["gpiobridge/kitchen/status"] == nil,
            "the will the broker sent as it went down waits for the board's last word")
        let lwt = core.boardMessage(topic: "tele/tasmota_A1B2C3/LWT", payload: "Online", at: at(10.05))
        #expect(retained(lwt)["gpiobridge/kitchen/status"] == nil, "no flap")
        #expect(sent(lwt) == ["cmnd/tasmota_A1B2C3/STATE "], "asked for its relays again")
        // Another restart, and this time the board died meanwhile: its retained LWT is gone too.
        core.fleetLost()
        _ = core.boardsBroker(up: false, at: at(20))
        _ = core.boardsBroker(up: true, at: at(30))
        _ = core.fleetConnected(at: at(30))
        #expect(retained(core.tick(at: at(32)))["gpiobridge/kitchen/status"] == "offline")
    }

    @Test("on the fleet's own broker a board's Offline waits 500 ms: a broker going down hands out every will just before the relay loses it")
    func offlineHold() throws {
        var core = RelayCore(profile: try profile(fleetYAML), at: at(0), unixNow: 0)
        _ = core.boardsBroker(up: true, at: at(0))
        _ = core.fleetConnected(at: at(0))
        _ = core.boardMessage(topic: "tele/tasmota_A1B2C3/LWT", payload: "Online", at: at(0.1))
        #expect(retained(core.boardMessage(topic: "tele/tasmota_A1B2C3/LWT", payload: "Offline", at: at(1)))["gpiobridge/kitchen/status"] == nil)
        #expect(retained(core.tick(at: at(1.5)))["gpiobridge/kitchen/status"] == "offline", "a board that died is reported")
        _ = core.boardMessage(topic: "tele/tasmota_A1B2C3/LWT", payload: "Online", at: at(2))
        // The broker shuts down: the board's will, then the relay's connection goes.
        #expect(retained(core.boardMessage(topic: "tele/tasmota_A1B2C3/LWT", payload: "Offline", at: at(3))).isEmpty)
        core.fleetLost()
        _ = core.boardsBroker(up: false, at: at(3.1))
        #expect(retained(core.tick(at: at(4))).isEmpty, "it was the broker, not the board")
    }

    @Test("an agent of the fleet with a board's name: the board is no longer mirrored, the agent's info is put back, and it is reported")
    func agentOwnsBoardName() throws {
        var core = RelayCore(profile: try profile(fleetYAML), at: at(0), unixNow: 0)
        _ = core.boardsBroker(up: true, at: at(0))
        _ = core.fleetConnected(at: at(0))
        let agentInfo = #"{"kind":"agent","name":"Tutorial Pi","outputs":[],"inputs":[],"sensors":["number"],"seen":5}"#
        let actions = core.fleetMessage(topic: "gpiobridge/tutorial/info", payload: agentInfo, at: at(1))
        #expect(core.boardNames == ["kitchen"])
        #expect(retained(actions)["gpiobridge/tutorial/info"] == agentInfo)
        #expect(published(actions).first?.contains("tutorial is the device id of an agent of the fleet as well as of a pubsubclient board") == true)
        #expect(core.boardMessage(topic: "test", payload: "42", at: at(2)).isEmpty, "the sketch's topic is no longer read")
        #expect(core.fleetMessage(topic: "gpiobridge/tutorial/info", payload: agentInfo, at: at(3)).isEmpty, "reported once")
        // The board's own info (via the relay) is no agent's.
        let ours = #"{"kind":"tasmota","name":"kitchen","via":"hub","seen":5}"#
        #expect(core.fleetMessage(topic: "gpiobridge/kitchen/info", payload: ours, at: at(4)).isEmpty)
        #expect(core.boardNames == ["kitchen"])
    }

    @Test("boards this relay mirrored before and mirrors no more are cleared once, 10 s after the fleet is reached; others' are left")
    func staleBoards() throws {
        var core = RelayCore(profile: try profile(fleetYAML), at: at(0), unixNow: 0)
        guard case .subscribeFleet(let filters)? = core.start().last else {
            Issue.record("no fleet subscriptions")
            return
        }
        #expect(filters.contains("gpiobridge/+/info"))
        _ = core.fleetConnected(at: at(0))
        let old = #"{"kind":"tasmota","name":"garage","outputs":["door","bad/name","+"],"inputs":[],"sensors":["temp"],"via":"hub","seen":1}"#
        #expect(core.fleetMessage(topic: "gpiobridge/garage/info", payload: old, at: at(0.1)).isEmpty)
        _ = core.fleetMessage(topic: "gpiobridge/kitchen/info", payload: #"{"kind":"tasmota","name":"kitchen","via":"hub","seen":1}"#, at: at(0.1))
        _ = core.fleetMessage(topic: "gpiobridge/pi/info", payload: #"{"kind":"agent","name":"pi","outputs":["led"],"seen":1}"#, at: at(0.1))
        _ = core.fleetMessage(topic: "gpiobridge/shed/info", payload: #"{"kind":"esphome","name":"shed","via":"other-relay","seen":1}"#, at: at(0.1))
        #expect(retained(core.tick(at: at(9.9))).keys.allSatisfy { !$0.contains("garage") })
        let swept = core.tick(at: at(10))
        #expect(
            retained(swept).filter { !$0.key.contains("kitchen") && !$0.key.contains("tutorial") }
                == [
                    "gpiobridge/garage/status": "", "gpiobridge/garage/info": "", "gpiobridge/garage/door": "",
                    "gpiobridge/garage/temp": "", "homeassistant/device/gpiobridge_garage/config": "",
                ],
            "only plain names are cleared; the mirrored board, the agent and another relay's board are left")
        #expect(swept.contains(.log("cleared 1 board this relay no longer mirrors: garage")))
        _ = core.fleetMessage(topic: "gpiobridge/late/info", payload: #"{"kind":"tasmota","name":"late","via":"hub","seen":1}"#, at: at(11))
        #expect(retained(core.tick(at: at(30))).keys.allSatisfy { !$0.contains("late") }, "one sweep per start")
    }

    @Test("with Home Assistant on, the relay is a device of its own, so the boards' via_device exists; a board may not take its name")
    func relayDevice() throws {
        var core = RelayCore(
            profile: try profile("relay: {id: hub}\nfleet: {host: localhost}\ndiscover: {tasmota: true}\ndiscovery: true"),
            at: at(0), unixNow: 0)
        let config = try #require(retained(core.fleetConnected(at: at(0)))["homeassistant/device/gpiobridge_hub/config"])
        #expect(config.contains(#""stat_t":"gpiobridge/hub/status","pl_on":"online","pl_off":"offline""#))
        _ = core.boardMessage(topic: "tasmota/discovery/AABBCC000002/config", payload: #"{"t":"hub","rl":[1]}"#, at: at(1))
        #expect(core.boardNames.isEmpty, "a board announcing itself as the relay's id is not mirrored")
    }

    @Test("Tasmota boards that announce themselves are mirrored, with their sensors; a withdrawn announcement removes them")
    func tasmotaDiscovery() throws {
        var core = RelayCore(profile: try profile("fleet: {host: localhost}\ndiscover: {tasmota: true}\ndiscovery: true"), at: at(0), unixNow: 0)
        _ = core.boardsBroker(up: true, at: at(0))
        _ = core.fleetConnected(at: at(0))
        let config =
            #"{"ip":"10.0.0.5","dn":"Hall","hn":"hall-1234","mac":"A1B2C3D4E5F6","t":"tasmota_D4E5F6","ft":"%prefix%/%topic%/","tp":["cmnd","stat","tele"],"rl":[1,1,0,0],"ver":1}"#
        let added = core.boardMessage(topic: "tasmota/discovery/A1B2C3D4E5F6/config", payload: config, at: at(1))
        #expect(core.boardNames == ["tasmota_D4E5F6"])
        #expect(
            added.contains(
                .subscribeBoards(["tele/tasmota_D4E5F6/LWT", "tele/tasmota_D4E5F6/STATE", "tele/tasmota_D4E5F6/SENSOR", "stat/tasmota_D4E5F6/+"])))
        #expect(added.contains(.subscribeCommands(["gpiobridge/tasmota_D4E5F6/+/set"])))
        let homeAssistant = retained(added)["homeassistant/device/gpiobridge_tasmota_D4E5F6/config"]
        #expect(homeAssistant?.contains(#""via_device":"gpiobridge_relay""#) == true)
        #expect(homeAssistant?.contains(#""cns":[["mac","a1b2c3d4e5f6"]]"#) == true, "Home Assistant files it with the board's own device")
        // Each component asks for QoS 1 itself: Home Assistant does not take the device's for its commands.
        if case .object(let components)? = try JSONValue(parsing: homeAssistant ?? "{}")["cmps"] {
            #expect(components.count == 2 && components.allSatisfy { $0.value["qos"] == .number(1) }, "\(components)")
        } else {
            Issue.record("no components in \(homeAssistant ?? "nothing")")
        }
        _ = core.boardMessage(
            topic: "tasmota/discovery/A1B2C3D4E5F6/sensors", payload: #"{"sn":{"Time":"x","SI7021":{"Temperature":20.1,"Humidity":51}},"ver":1}"#,
            at: at(2))
        #expect(core.mirror(of: "tasmota_D4E5F6")?.dialect.sensors == ["si7021_temperature", "si7021_humidity"])
        #expect(core.mirror(of: "tasmota_D4E5F6")?.dialect.outputs == ["relay1", "relay2"])
        #expect(sent(core.fleetMessage(topic: "gpiobridge/tasmota_D4E5F6/relay2/set", payload: "TOGGLE", at: at(3))).isEmpty, "offline: it waits")
        let online = core.boardMessage(topic: "tele/tasmota_D4E5F6/LWT", payload: "Online", at: at(4))
        #expect(sent(online) == ["cmnd/tasmota_D4E5F6/STATE ", "cmnd/tasmota_D4E5F6/POWER2 TOGGLE"])
        let removed = core.boardMessage(topic: "tasmota/discovery/A1B2C3D4E5F6/config", payload: "", at: at(5))
        #expect(core.boardNames.isEmpty)
        #expect(retained(removed)["gpiobridge/tasmota_D4E5F6/status"] == "")
        #expect(retained(removed)["homeassistant/device/gpiobridge_tasmota_D4E5F6/config"] == "")
        #expect(
            core.boardMessage(topic: "tasmota/discovery/X/config", payload: "{broken", at: at(6)).first
                .map { if case .log(let text) = $0 { text.contains("not understood") } else { false } } == true)
    }

    @Test("a declared Tasmota board that also announces itself is mirrored once, under the profile's names")
    func declaredAndAnnounced() throws {
        var core = RelayCore(profile: try profile(fleetYAML + "\ndiscover: {tasmota: true}\ndiscovery: true"), at: at(0), unixNow: 0)
        _ = core.fleetConnected(at: at(0))
        let config = #"{"mac":"AABBCCA1B2C3","t":"tasmota_A1B2C3","rl":[1],"ver":1}"#
        let actions = core.boardMessage(topic: "tasmota/discovery/AABBCCA1B2C3/config", payload: config, at: at(1))
        #expect(core.boardNames == ["kitchen", "tutorial"])
        #expect(retained(actions)["homeassistant/device/gpiobridge_kitchen/config"]?.contains(#"["mac","aabbcca1b2c3"]"#) == true)
    }

    @Test("a board announcing itself under a declared board's name is not mirrored, and its withdrawal leaves the declared board alone")
    func announcedNameClash() throws {
        var core = RelayCore(profile: try profile(fleetYAML + "\ndiscover: {tasmota: true}"), at: at(0), unixNow: 0)
        _ = core.fleetConnected(at: at(0))
        let clash = #"{"mac":"AABBCC000001","t":"kitchen","rl":[1],"ver":1}"#
        _ = core.boardMessage(topic: "tasmota/discovery/AABBCC000001/config", payload: clash, at: at(1))
        #expect(core.mirror(of: "kitchen")?.dialect.subscriptions.contains("tele/tasmota_A1B2C3/LWT") == true, "the declared board stays")
        let withdrawn = core.boardMessage(topic: "tasmota/discovery/AABBCC000001/config", payload: "", at: at(2))
        #expect(core.boardNames == ["kitchen", "tutorial"])
        #expect(retained(withdrawn).isEmpty, "nothing of the declared board is erased")
    }

    @Test("a Tasmota FullTopic with %hostname% and %id% is filled in from the announcement")
    func fullTopicPlaceholders() throws {
        var core = RelayCore(profile: try profile("fleet: {host: localhost}\ndiscover: {tasmota: true}"), at: at(0), unixNow: 0)
        let config = #"{"mac":"5CCF7FD4E5F6","hn":"shed-5862","t":"tasmota_D4E5F6","ft":"%prefix%/%hostname%/%id%/","rl":[1],"ver":1}"#
        _ = core.boardMessage(topic: "tasmota/discovery/5CCF7FD4E5F6/config", payload: config, at: at(1))
        #expect(core.mirror(of: "tasmota_D4E5F6")?.dialect.subscriptions.first == "tele/shed-5862/D4E5F6/LWT")
    }

    @Test("the relay refreshes its own info every five minutes, so its last sighting stays true")
    func relayInfoRefresh() throws {
        var core = RelayCore(profile: try profile("relay: {id: hub}\nfleet: {host: localhost}"), at: at(0), unixNow: 1_000)
        _ = core.fleetConnected(at: at(0))
        #expect(core.nextDeadline() == at(10), "the sweep of boards no longer mirrored")
        _ = core.tick(at: at(10))
        #expect(core.nextDeadline() == at(300))
        #expect(retained(core.tick(at: at(300)))["gpiobridge/hub/info"]?.contains(#""seen":1300"#) == true)
        #expect(core.nextDeadline() == at(600))
    }

    @Test("ESPHome nodes of any release are recognised: the old `esphome v…` software, a bare version, or ESPHome's shape")
    func esphomeReleases() throws {
        let configs = [
            #"{"stat_t":"a/switch/x/state","cmd_t":"a/switch/x/command","dev":{"ids":"1","sw":"2025.2.0 (config hash 0x1a2b3c4d)","mf":"Espressif"}}"#,
            #"{"stat_t":"b/switch/x/state","cmd_t":"b/switch/x/command","dev":{"ids":"2","sw":"1.0 (ESPHome 2025.2.0)","mf":"Acme"}}"#,
            #"{"stat_t":"c/switch/x/state","cmd_t":"c/switch/x/command","avty_t":"c/status","uniq_id":"ESPswitchx","dev":{"ids":"3"}}"#,
        ]
        var core = RelayCore(profile: try profile("fleet: {host: localhost}\ndiscover: {esphome: true}"), at: at(0), unixNow: 0)
        for (node, config) in zip(["a", "b", "c"], configs) {
            _ = core.boardMessage(topic: "homeassistant/switch/\(node)/x/config", payload: config, at: at(1))
        }
        #expect(core.boardNames.isEmpty, "a new node is mirrored once its retained configs are read")
        _ = core.tick(at: at(1.5))
        #expect(core.boardNames == ["a", "b", "c"])
        let zigbee = #"{"stat_t":"zigbee2mqtt/lamp","cmd_t":"zigbee2mqtt/lamp/set","dev":{"ids":["0x00124b"],"mf":"IKEA","sw":"2.3.0"}}"#
        _ = core.boardMessage(topic: "homeassistant/switch/lamp/switch/config", payload: zigbee, at: at(2))
        #expect(core.boardNames == ["a", "b", "c"], "another firmware's config is not an ESPHome node")
    }

    @Test("ESPHome nodes are found from their Home Assistant discovery; gpiobridge's own configs and other firmware are not")
    func esphomeDiscovery() throws {
        var core = RelayCore(profile: try profile("fleet: {host: localhost}\ndiscover: {esphome: true}"), at: at(0), unixNow: 0)
        _ = core.boardsBroker(up: true, at: at(0))
        _ = core.fleetConnected(at: at(0))
        let switchConfig =
            #"{"name":"Relay","stat_t":"garden/switch/pump/state","cmd_t":"garden/switch/pump/command","avty_t":"garden/status","uniq_id":"ESPswitchpump","dev":{"ids":"240ac4123456","name":"garden","sw":"esphome v2024.6.1","mdl":"nodemcuv2","mf":"espressif"}}"#
        _ = core.boardMessage(topic: "homeassistant/switch/garden/pump/config", payload: switchConfig, at: at(1))
        let sensorConfig = #"{"~":"garden/sensor/soil","name":"Soil","stat_t":"~/state","dev":{"ids":"240ac4123456","sw":"esphome v2024.6.1"}}"#
        _ = core.boardMessage(topic: "homeassistant/sensor/garden/soil/config", payload: sensorConfig, at: at(1.2))
        let defined = core.tick(at: at(1.5))
        #expect(retained(defined)["homeassistant/device/gpiobridge_garden/config"] == nil, "Home Assistant is off here")
        #expect(
            retained(defined)["gpiobridge/garden/info"]?.contains(#""outputs":["pump"],"inputs":[],"sensors":["soil"]"#) == true,
            "one info with every component, not one per config")
        #expect(core.boardNames == ["garden"])
        #expect(core.mirror(of: "garden")?.dialect.outputs == ["pump"])
        #expect(core.mirror(of: "garden")?.dialect.sensors == ["soil"])
        _ = core.boardMessage(topic: "garden/status", payload: "online", at: at(3))
        #expect(sent(core.fleetMessage(topic: "gpiobridge/garden/pump/set", payload: "1", at: at(4))) == ["garden/switch/pump/command ON"])
        // An agent's device-based config, and a config of gpiobridge's in ESPHome's shape, are not ESPHome nodes.
        let ours =
            #"{"name":"x","stat_t":"gpiobridge/switch/light/state","avty_t":"gpiobridge/status","uniq_id":"ESPlight","dev":{"ids":["gpiobridge_kitchen"],"sw":"0.1.0","mf":"gpiobridge"}}"#
        _ = core.boardMessage(topic: "homeassistant/switch/kitchen/light/config", payload: ours, at: at(5))
        _ = core.boardMessage(topic: "homeassistant/device/gpiobridge_pi/config", payload: #"{"dev":{"ids":["gpiobridge_pi"]}}"#, at: at(6))
        #expect(core.boardNames == ["garden"])
        // The node withdraws its components: it is no longer mirrored once the last one goes.
        _ = core.boardMessage(topic: "homeassistant/sensor/garden/soil/config", payload: "", at: at(7))
        #expect(core.mirror(of: "garden")?.dialect.sensors == [])
        let gone = core.boardMessage(topic: "homeassistant/switch/garden/pump/config", payload: "", at: at(8))
        #expect(core.boardNames.isEmpty)
        #expect(retained(gone)["gpiobridge/garden/status"] == "")
    }

    @Test("a link mirrors a device's state onto a mirrored board's output; the first (retained) state only records")
    func link() throws {
        var core = RelayCore(profile: try profile(fleetYAML + "\nlinks: [{from: garage-pi/button, to: kitchen/light}]"), at: at(0), unixNow: 0)
        _ = core.boardsBroker(up: true, at: at(0))
        let start = core.start()
        let filters = try #require(start.compactMap { if case .subscribeFleet(let filters) = $0 { filters } else { nil } }.first)
        #expect(filters.contains("gpiobridge/garage-pi/button"))
        _ = core.boardMessage(topic: "tele/tasmota_A1B2C3/LWT", payload: "Online", at: at(0))
        #expect(sent(core.fleetMessage(topic: "gpiobridge/garage-pi/button", payload: "OFF", at: at(1))).isEmpty)
        #expect(sent(core.fleetMessage(topic: "gpiobridge/garage-pi/button", payload: "ON", at: at(2))) == ["cmnd/tasmota_A1B2C3/POWER1 ON"])
    }
}

@Suite("Links never oscillate")
struct LinkRouterTests {
    typealias Endpoint = LinkRouter.Endpoint
    let a = Endpoint(device: "pi", name: "relay")
    let b = Endpoint(device: "esp", name: "light")

    func router(_ links: [(Endpoint, Endpoint)]) throws -> LinkRouter {
        let list = links.map { "{from: \($0.0), to: \($0.1)}" }.joined(separator: ", ")
        return LinkRouter(try profile("fleet: {host: localhost}\nlinks: [\(list)]").links)
    }

    func both() throws -> LinkRouter { try router([(a, b), (b, a)]) }

    @Test("two devices linked both ways settle: the echo of a link's command goes no further")
    func twoWay() throws {
        var links = try both()
        #expect(links.observed(a, on: false, at: at(0)).isEmpty)
        #expect(links.observed(b, on: false, at: at(0)).isEmpty)
        #expect(links.observed(a, on: true, at: at(1)) == [.init(target: b, on: true)])
        #expect(links.observed(b, on: true, at: at(1.1)).isEmpty, "b's echo does not command a back")
        #expect(links.observed(b, on: false, at: at(2)) == [.init(target: a, on: false)], "a real change on b goes to a")
        #expect(links.observed(a, on: false, at: at(2.1)).isEmpty)
    }

    @Test("rapid changes on one side: late echoes are recognised, and the two sides end equal")
    func rapid() throws {
        var links = try both()
        _ = links.observed(a, on: false, at: at(0))
        _ = links.observed(b, on: false, at: at(0))
        var commands: [LinkRouter.Command] = []
        commands += links.observed(a, on: true, at: at(1))
        commands += links.observed(a, on: false, at: at(1.01))
        commands += links.observed(a, on: true, at: at(1.02))
        #expect(commands == [.init(target: b, on: true), .init(target: b, on: false), .init(target: b, on: true)])
        // b reports each commanded state late, in order: none of them goes back to a.
        #expect(links.observed(b, on: true, at: at(1.1)).isEmpty)
        #expect(links.observed(b, on: false, at: at(1.2)).isEmpty)
        #expect(links.observed(b, on: true, at: at(1.3)).isEmpty)
    }

    @Test("a cycle of three settles: nothing is commanded twice around the loop")
    func cycle() throws {
        let c = Endpoint(device: "third", name: "out")
        var links = try router([(a, b), (b, c), (c, a)])
        for endpoint in [a, b, c] { _ = links.observed(endpoint, on: false, at: at(0)) }
        #expect(links.observed(a, on: true, at: at(1)) == [.init(target: b, on: true)])
        #expect(links.observed(b, on: true, at: at(1.1)) == [.init(target: c, on: true)])
        #expect(links.observed(c, on: true, at: at(1.2)).isEmpty, "a started it: the loop ends there")
    }
}

@Suite("The info a device publishes about itself")
struct DeviceInfoTests {
    @Test("it reads back what it writes; a nonsense `seen` is ignored, never a crash")
    func roundTrip() throws {
        let info = DeviceInfo(kind: "tasmota", name: "kitchen", outputs: ["light"], sensors: ["temperature"], via: "hub", seen: 1_795_000_000)
        #expect(DeviceInfo(json: info.json) == info)
        let odd = try JSONValue(parsing: #"{"kind":"agent","name":"x","seen":1e300}"#)
        #expect(DeviceInfo(json: odd)?.seen == 0)
        #expect(DeviceInfo(json: try JSONValue(parsing: #"{"name":"x"}"#)) == nil)
    }
}
