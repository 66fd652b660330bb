import Hardware
import Profile
import Scheme
import Testing

@testable import Agent
@testable import MQTT

private let start = ContinuousClock.now
private func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

private func profile(_ yaml: String) throws -> Profile {
    try ProfileLoader.decode("device: {id: bench}\n" + yaml, file: "test.yml")
}

/// A core whose lines are all held at their initial states, connected.
private func running(_ yaml: String) throws -> AgentCore {
    let profile = try profile(yaml)
    let outputs = Dictionary(uniqueKeysWithValues: profile.outputs.filter { $0.initial != .restore }.map { ($0.name, $0.initial == .on) })
    let inputs = Dictionary(uniqueKeysWithValues: profile.inputs.map { ($0.name, false) })
    var core = AgentCore(profile: profile, outputStates: outputs, inputLevels: inputs, at: at(0), unixNow: 1_800_000_000)
    _ = core.connectionChanged(.connected(MQTTConnectionInfo(version: .v5, sessionPresent: false, clientID: "bench", keepAlive: 60)), at: at(0))
    return core
}

private func command(_ output: String, _ payload: String, retain: Bool = false) -> MQTTMessage {
    MQTTMessage(topic: "gpiobridge/bench/\(output)/set", payload: payload, qos: .atLeastOnce, retain: retain)
}

/// The line and state actions, as `drive lamp ON` and `state lamp ON`, in order.
private func effects(_ actions: [AgentCore.Action]) -> [String] {
    actions.compactMap { action in
        switch action {
        case .drive(let output, let on): "drive \(output) \(SchemeWord.state(on))"
        case .retain(let topic, let payload) where topic.hasPrefix("gpiobridge/bench/") && !topic.hasSuffix("/info"):
            "state \(topic.dropFirst("gpiobridge/bench/".count)) \(payload)"
        default: nil
        }
    }
}

private func errors(_ actions: [AgentCore.Action]) -> [String] {
    actions.compactMap { if case .publish("gpiobridge/bench/error", let payload, _, _) = $0 { payload } else { nil } }
}

private let interlocked = """
    outputs:
      - {name: up, line: GPIO5, interlock: [down]}
      - {name: down, line: GPIO6, interlock: [up]}
    """

@Suite("The agent's core: commands, safety and time (mock clock)")
struct AgentCoreTests {
    @Test("an interlocked partner is switched off, and its state published, before the output goes on")
    func interlockOrder() throws {
        var core = try running(interlocked)
        #expect(effects(core.message(command("up", "ON"), at: at(1))) == ["drive up ON", "state up ON"])
        #expect(effects(core.message(command("down", "ON"), at: at(2))) == ["drive up OFF", "state up OFF", "drive down ON", "state down ON"])
        #expect(core.outputStates == ["up": false, "down": true])
    }

    @Test("a partner that cannot be switched off keeps the other output off; states stay true")
    func rollbackAfterFailedDrive() throws {
        var core = try running(interlocked)
        _ = core.message(command("up", "ON"), at: at(1))
        let actions = core.message(command("down", "ON"), at: at(2))
        let failing = try #require(actions.firstIndex(of: .drive(output: "up", on: false)))
        let instead = core.driveFailed("up", error: "EIO", skipped: Array(actions[(failing + 1)...]))
        #expect(effects(instead).isEmpty, "neither down's drive nor any state is carried out")
        #expect(errors(instead) == [#"{"source":"up","error":"cannot drive the line: EIO"}"#])
        #expect(core.outputStates == ["up": true, "down": false])
        #expect(core.status.recentErrors == ["up: cannot drive the line: EIO"])
        // The next command starts from the states the lines really have.
        #expect(effects(core.message(command("down", ""), at: at(3))) == ["state down OFF"])
    }

    @Test("a failed drive while stopping skips its outputs, not the info and offline after them")
    func failedSafeStateStillSaysOffline() throws {
        var core = try running("outputs: [{name: heater, line: GPIO5}, {name: fan, line: GPIO6, safe_state: on}]")
        _ = core.message(command("heater", "ON"), at: at(1))
        let actions = core.shutdown(at: at(2))
        #expect(effects(actions) == ["drive heater OFF", "state heater OFF", "drive fan ON", "state fan ON", "state status offline"])
        let failing = try #require(actions.firstIndex(of: .drive(output: "heater", on: false)))
        let instead = core.driveFailed("heater", error: "EIO", skipped: Array(actions[(failing + 1)...]))
        #expect(effects(instead) == ["state status offline"])
    }

    @Test("a pulse ends on time; a newer command cancels it; a late timer of an old pulse does nothing")
    func pulses() throws {
        var core = try running("outputs: [{name: bell, line: GPIO5}]")
        #expect(effects(core.message(command("bell", #"{"state":"ON","pulse_ms":500}"#), at: at(1))) == ["drive bell ON", "state bell ON"])
        #expect(core.nextDeadline() == at(1.5))
        #expect(effects(core.tick(at: at(1.499))).isEmpty)
        #expect(effects(core.tick(at: at(1.5))) == ["drive bell OFF", "state bell OFF"])
        _ = core.message(command("bell", #"{"state":"ON","pulse_ms":500}"#), at: at(2))
        _ = core.message(command("bell", "ON"), at: at(2.2))
        #expect(effects(core.tick(at: at(3))).isEmpty, "the plain ON cancelled the pulse")
        #expect(core.outputStates["bell"] == true)
        _ = core.message(command("bell", #"{"state":"ON","pulse_ms":500}"#), at: at(4))
        _ = core.message(command("bell", #"{"state":"ON","pulse_ms":2000}"#), at: at(4.2))
        #expect(effects(core.tick(at: at(4.7))).isEmpty, "the second pulse replaced the first")
        #expect(effects(core.tick(at: at(6.2))) == ["drive bell OFF", "state bell OFF"])
    }

    @Test("a pulse under way survives a reload that keeps its output, and ends with a reload that changes it")
    func pulsesAcrossReloads() throws {
        let yaml = "outputs: [{name: bell, line: GPIO5}, {name: gate, line: GPIO6}]"
        var core = try running(yaml)
        _ = core.message(command("bell", #"{"state":"ON","pulse_ms":1000}"#), at: at(1))
        _ = core.message(command("gate", #"{"state":"ON","pulse_ms":1000}"#), at: at(1))
        var changes = AgentLines.Changes()
        changes.kept = ["bell"]
        changes.changed = ["gate"]
        changes.heldOutputs = ["bell", "gate"]
        let new = try profile("outputs: [{name: bell, line: GPIO5}, {name: gate, line: GPIO6, active_low: true}]")
        let reload = core.reloaded(to: new, changes: changes, at: at(1.5))
        #expect(effects(reload) == ["state gate OFF"], "the changed output starts at its initial state")
        #expect(effects(core.tick(at: at(2))) == ["drive bell OFF", "state bell OFF"], "the kept pulse ends on time")
        #expect(core.outputStates == ["bell": false, "gate": false])
    }

    @Test("without the broker for the grace period, outputs go to their safe states, off before on; a return in time changes nothing")
    func grace() throws {
        var core = try running(
            """
            outputs: [{name: pump, line: GPIO5, interlock: [valve]}, {name: valve, line: GPIO6, safe_state: on, interlock: [pump]}]
            safety: {broker_grace: 1s}
            """)
        _ = core.message(command("pump", "ON"), at: at(1))
        let lost = MQTTConnectionState.waitingToReconnect(delay: .seconds(1), lastError: .closedByBroker)
        #expect(core.connectionChanged(lost, at: at(2)).isEmpty)
        _ = core.connectionChanged(.connecting(attempt: 2), at: at(2.5))
        #expect(core.nextDeadline() == at(3), "a second loss does not restart the period")
        let connected = MQTTConnectionState.connected(MQTTConnectionInfo(version: .v5, sessionPresent: true, clientID: "bench", keepAlive: 60))
        #expect(effects(core.connectionChanged(connected, at: at(2.9))).contains("state status online"))
        #expect(effects(core.tick(at: at(4))).isEmpty)

        _ = core.connectionChanged(lost, at: at(5))
        let safe = core.tick(at: at(6))
        #expect(effects(safe) == ["drive pump OFF", "state pump OFF", "drive valve ON", "state valve ON"])
        #expect(safe.contains(.log(.warning, "no broker for 1000 ms: outputs go to their safe states", [:])))
    }

    @Test("initial: restore waits for the retained state, refuses commands meanwhile, then requests the line at it")
    func restore() throws {
        let profile = try profile("outputs: [{name: heater, line: GPIO5, initial: restore}, {name: fan, line: GPIO6, initial: restore}]")
        var core = AgentCore(profile: profile, outputStates: [:], inputLevels: [:], at: at(0), unixNow: 1_800_000_000)
        guard case .subscribe(let subscriptions)? = core.start().first else {
            Issue.record("no subscription")
            return
        }
        #expect(subscriptions.map(\.filter.description).suffix(2) == ["gpiobridge/bench/heater", "gpiobridge/bench/fan"])
        let refused = core.message(command("heater", "ON"), at: at(0.1))
        #expect(errors(refused).first?.contains("heater is still waiting for its retained state") == true)
        #expect(core.message(MQTTMessage(topic: "gpiobridge/bench/heater", payload: "ON", qos: .atLeastOnce, retain: true), at: at(0.2)).isEmpty)
        // fan has no retained state: the window decides.
        #expect(core.nextDeadline() == at(2))
        let requests = core.tick(at: at(2))
        #expect(requests == [.requestOutputs([.init(output: "heater", on: true), .init(output: "fan", on: false)])])
        let after = core.outputsRequested([.init(output: "heater", on: true), .init(output: "fan", on: false)], failure: nil, at: at(2))
        #expect(after.first == .unsubscribe([TopicFilter("gpiobridge/bench/heater")!, TopicFilter("gpiobridge/bench/fan")!]))
        #expect(effects(after).prefix(3) == ["state status online", "state heater ON", "state fan OFF"])
        #expect(core.outputStates == ["heater": true, "fan": false])
        // The output's own state is no longer read as something to restore.
        #expect(core.message(MQTTMessage(topic: "gpiobridge/bench/heater", payload: "OFF", qos: .atLeastOnce, retain: false), at: at(3)).isEmpty)
        #expect(effects(core.message(command("heater", "OFF"), at: at(3))) == ["drive heater OFF", "state heater OFF"])
    }

    @Test("a retained command never moves a line and is reported once per topic")
    func retainedCommand() throws {
        var core = try running("outputs: [{name: heater, line: GPIO5}]")
        let first = core.message(command("heater", "ON", retain: true), at: at(1))
        #expect(effects(first).isEmpty)
        #expect(errors(first).count == 1)
        #expect(core.message(command("heater", "ON", retain: true), at: at(2)).isEmpty)
    }

    @Test("a reload keeps unchanged lines' states, starts changed ones afresh, and clears what was removed")
    func reload() throws {
        var core = try running(
            """
            outputs: [{name: a, line: GPIO5}, {name: b, line: GPIO6}, {name: c, line: GPIO7}]
            inputs: [{name: door, line: GPIO20}]
            subscriptions: [{topic: old/#}]
            """)
        for name in ["a", "b", "c"] { _ = core.message(command(name, "ON"), at: at(1)) }
        let new = try profile(
            """
            outputs: [{name: a, line: GPIO5}, {name: b, line: GPIO6, initial: on, active_low: true}, {name: d, line: GPIO8}]
            inputs: [{name: door, line: GPIO20}]
            subscriptions: [{topic: new/#}]
            """)
        #expect(core.reloadRefusal(new) == nil)
        var changes = AgentLines.Changes()
        changes.kept = ["a", "door"]
        changes.changed = ["b"]
        changes.added = ["d"]
        changes.removed = ["c"]
        changes.heldOutputs = ["a", "b", "d"]
        let actions = core.reloaded(to: new, changes: changes, at: at(2))
        #expect(effects(actions) == ["state c ", "state b ON", "state d OFF"])
        #expect(actions.contains(.unsubscribe([TopicFilter("gpiobridge/bench/c/set")!, TopicFilter("old/#")!])))
        #expect(
            actions.contains(
                .subscribe([
                    Subscription(TopicFilter("gpiobridge/bench/d/set")!, qos: .atLeastOnce, retainHandling: .doNotSend),
                    Subscription(TopicFilter("new/#")!, qos: .atMostOnce),
                ])))
        #expect(core.outputStates == ["a": true, "b": true, "d": false])
        #expect(core.status.inputs.map(\.state) == [false], "the kept input keeps its level")
        #expect(effects(core.message(command("c", "ON"), at: at(3))).isEmpty, "a removed output takes no command")
        var moved = new
        moved.device.baseTopic = "gpiobridge/elsewhere"
        #expect(core.reloadRefusal(moved)?.description.contains("restart the agent") == true)
    }

    @Test("sensors are read on their interval after each result; a result from before a reload is dropped")
    func sensorSchedule() throws {
        var core = try running("sensors: [{name: climate, model: bme280, bus: 1, interval: 10s}]")
        #expect(core.tick(at: at(0)) == [.readSensor("climate", round: 0)])
        #expect(core.nextDeadline() == at(300), "only the info refresh is due while the read runs")
        let published = core.sensorRead("climate", round: 0, result: .success([SensorReading(.temperature, 21.5)]), at: at(0.1))
        #expect(published == [.publish(topic: "gpiobridge/bench/climate", payload: #"{"temperature":21.5}"#, qos: .atMostOnce, retain: false)])
        #expect(core.nextDeadline() == at(10.1))
        struct Absent: Error, CustomStringConvertible { var description: String { "no answer at 0x76" } }
        _ = core.tick(at: at(10.1))
        let failed = core.sensorRead("climate", round: 0, result: .failure(Absent()), at: at(10.2))
        #expect(errors(failed) == [#"{"source":"climate","error":"no answer at 0x76"}"#])
        _ = core.tick(at: at(20.2))
        var changes = AgentLines.Changes()
        changes.heldOutputs = []
        _ = core.reloaded(to: core.profile, changes: changes, at: at(20.3))
        #expect(core.sensorRead("climate", round: 0, result: .success([SensorReading(.temperature, 1)]), at: at(20.4)).isEmpty)
        #expect(core.tick(at: at(20.4)) == [.readSensor("climate", round: 1)])
    }

    @Test("publishers keep a fixed grid from the start; a late tick skips what it missed")
    func publisherGrid() throws {
        var core = try running("publishers: [{name: up, topic: test/up, interval: 1s, uptime: true}]")
        func values(_ actions: [AgentCore.Action]) -> [String] {
            actions.compactMap { if case .publish("test/up", let payload, _, _) = $0 { payload } else { nil } }
        }
        #expect(values(core.tick(at: at(0.999))).isEmpty)
        #expect(values(core.tick(at: at(1.004))) == ["1"])
        #expect(core.nextDeadline() == at(2))
        #expect(values(core.tick(at: at(4.5))) == ["4"], "one value for the three missed")
        #expect(core.nextDeadline() == at(5))
    }

    @Test("a flood of bad commands: each is answered, the log takes five and then one count at the window's end")
    func refusalFlood() throws {
        var core = try running("outputs: [{name: lamp, line: GPIO5}]")
        var logged = 0
        var answered = 0
        for index in 0..<100 {
            let actions = core.message(command("lamp", "BLINK"), at: at(1 + Double(index) / 1000))
            logged += actions.count { if case .log = $0 { true } else { false } }
            answered += errors(actions).count
        }
        #expect(logged == 5)
        #expect(answered == 100)
        #expect(core.nextDeadline() == at(11))
        #expect(
            core.tick(at: at(11)) == [
                .log(
                    .warning, "95 more lines like this were left out of the log in the last 10.0 seconds",
                    ["kind": "refused a command on gpiobridge/bench/lamp/set"])
            ])
    }

    @Test("every deadline due at one instant fires in one tick")
    func simultaneousDeadlines() throws {
        var core = try running(
            """
            outputs: [{name: a, line: GPIO5}, {name: b, line: GPIO6}, {name: c, line: GPIO7}]
            publishers: [{name: p, topic: test/p, interval: 1s, text: hi}]
            """)
        for name in ["a", "b", "c"] { _ = core.message(command(name, #"{"state":"ON","pulse_ms":1000}"#), at: at(0)) }
        let actions = core.tick(at: at(1))
        #expect(effects(actions).filter { $0.hasPrefix("drive") } == ["drive a OFF", "drive b OFF", "drive c OFF"])
        #expect(actions.contains(.publish(topic: "test/p", payload: "hi", qos: .atMostOnce, retain: false)))
    }
}
