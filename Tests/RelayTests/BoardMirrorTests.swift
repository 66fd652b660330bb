import Relay
import Scheme
import Testing

private let start = ContinuousClock.now
private func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

private let tasmota = TasmotaDialect(topic: "kitchen", relays: [.init(name: "light", index: 1)])
/// What the relay sends a Tasmota board that comes online, so its relays are known at once.
private let askState = BoardMirror.Action.send(BoardMessage(topic: "cmnd/kitchen/STATE", payload: ""))
private let tutorial = PubSubClientDialect(values: [.init(name: "number", topic: "test")], commands: [.init(name: "led", topic: "test/led")])

@Suite("A mirrored board's availability, states and waiting commands (mock clock)")
struct BoardMirrorTests {
    @Test("Tasmota: LWT drives availability; RESULT states are mirrored; commands go to cmnd")
    func tasmotaFlow() {
        var board = BoardMirror(dialect: tasmota)
        #expect(board.received(topic: "tele/kitchen/LWT", payload: "Online", at: at(0)) == [.publishAvailability(true), askState])
        #expect(board.received(topic: "stat/kitchen/RESULT", payload: #"{"POWER":"ON"}"#, at: at(1)) == [.publishState(name: "light", on: true)])
        #expect(board.received(topic: "stat/kitchen/POWER", payload: "ON", at: at(1)).isEmpty, "Tasmota's second report of one change")
        #expect(
            board.command(.set(on: false, pulseMilliseconds: nil), for: "light", at: at(2))
                == [.send(BoardMessage(topic: "cmnd/kitchen/POWER1", payload: "OFF"))])
        #expect(board.received(topic: "tele/other/LWT", payload: "Offline", at: at(3)).isEmpty, "another board's topic")
    }

    @Test("commands for an offline board wait, within bounds, and go out when it returns")
    func buffering() {
        var board = BoardMirror(dialect: tasmota, buffer: .init(capacity: 2, maximumAge: .seconds(60)))
        _ = board.received(topic: "tele/kitchen/LWT", payload: "Online", at: at(0))
        #expect(board.received(topic: "tele/kitchen/LWT", payload: "Offline", at: at(1)) == [.publishAvailability(false)])
        #expect(board.command(.set(on: true, pulseMilliseconds: nil), for: "light", at: at(2)).isEmpty)
        #expect(board.command(.toggle(pulseMilliseconds: nil), for: "light", at: at(3)).isEmpty)
        #expect(
            board.command(.set(on: false, pulseMilliseconds: nil), for: "light", at: at(4))
                == [.refuse(name: "light", reason: "the board is offline and 2 commands already wait for it")])
        #expect(board.waitingCount == 2)
        #expect(
            board.received(topic: "tele/kitchen/LWT", payload: "Online", at: at(5)) == [
                .publishAvailability(true), askState,
                .send(BoardMessage(topic: "cmnd/kitchen/POWER1", payload: "ON")),
                .send(BoardMessage(topic: "cmnd/kitchen/POWER1", payload: "TOGGLE")),
            ])
        #expect(board.waitingCount == 0)
    }

    @Test("a command goes to the board with the QoS it came with, also after waiting; QoS 0 never waits")
    func commandQoS() {
        var board = BoardMirror(dialect: tasmota)
        _ = board.received(topic: "tele/kitchen/LWT", payload: "Online", at: at(0))
        #expect(
            board.command(.set(on: true, pulseMilliseconds: nil), for: "light", qos: .atMostOnce, at: at(1))
                == [.send(BoardMessage(topic: "cmnd/kitchen/POWER1", payload: "ON", qos: .atMostOnce))])
        #expect(
            board.command(.toggle(pulseMilliseconds: nil), for: "light", qos: .exactlyOnce, at: at(1))
                == [.send(BoardMessage(topic: "cmnd/kitchen/POWER1", payload: "TOGGLE", qos: .exactlyOnce))])
        _ = board.received(topic: "tele/kitchen/LWT", payload: "Offline", at: at(2))
        #expect(board.command(.toggle(pulseMilliseconds: nil), for: "light", qos: .exactlyOnce, at: at(3)).isEmpty)
        #expect(board.command(.set(on: false, pulseMilliseconds: nil), for: "light", qos: .atLeastOnce, at: at(3)).isEmpty)
        guard case .refuse = board.command(.set(on: true, pulseMilliseconds: nil), for: "light", qos: .atMostOnce, at: at(3)).first else {
            Issue.record("a QoS 0 command for an offline board must be refused")
            return
        }
        #expect(
            board.received(topic: "tele/kitchen/LWT", payload: "Online", at: at(4)) == [
                .publishAvailability(true), askState,
                .send(BoardMessage(topic: "cmnd/kitchen/POWER1", payload: "TOGGLE", qos: .exactlyOnce)),
                .send(BoardMessage(topic: "cmnd/kitchen/POWER1", payload: "OFF", qos: .atLeastOnce)),
            ], "the state query is the relay's own: QoS 1")
    }

    @Test("a command that waits longer than the maximum age is refused, not sent late")
    func expiry() {
        var board = BoardMirror(dialect: tasmota, buffer: .init(capacity: 10, maximumAge: .seconds(30)))
        _ = board.received(topic: "tele/kitchen/LWT", payload: "Offline", at: at(0))
        _ = board.command(.set(on: true, pulseMilliseconds: nil), for: "light", at: at(1))
        #expect(board.nextDeadline == at(31))
        #expect(board.tick(at: at(20)).isEmpty)
        let expired = board.tick(at: at(32))
        #expect(expired.count == 1)
        guard case .refuse(let name, _)? = expired.first else { return }
        #expect(name == "light")
        #expect(
            board.received(topic: "tele/kitchen/LWT", payload: "Online", at: at(40)) == [.publishAvailability(true), askState], "nothing sent late")
    }

    @Test("a board without a will: its messages say online, silence beyond the limit says offline")
    func silence() {
        var board = BoardMirror(dialect: tutorial, silenceLimit: .seconds(9))
        #expect(board.tick(at: at(0)).isEmpty, "nothing known yet: no availability is claimed")
        #expect(board.received(topic: "test", payload: "42", at: at(1)) == [.publishAvailability(true), .publishValue(name: "number", "42")])
        #expect(board.received(topic: "test", payload: "43", at: at(4)) == [.publishValue(name: "number", "43")])
        #expect(board.nextDeadline == at(13))
        #expect(board.tick(at: at(12)).isEmpty)
        #expect(board.tick(at: at(13.5)) == [.publishAvailability(false)])
        #expect(board.received(topic: "test", payload: "44", at: at(20)) == [.publishAvailability(true), .publishValue(name: "number", "44")])
    }

    @Test("a lost board broker makes the board unavailable on the fleet side, whatever its LWT said")
    func boardBrokerLost() {
        var board = BoardMirror(dialect: tasmota)
        _ = board.received(topic: "tele/kitchen/LWT", payload: "Online", at: at(0))
        #expect(board.boardBroker(up: false, at: at(1)) == [.publishAvailability(false)])
        #expect(board.command(.set(on: true, pulseMilliseconds: nil), for: "light", at: at(2)).isEmpty)
        #expect(board.boardBroker(up: true, at: at(3)).isEmpty, "the board may have died meanwhile: its LWT tells")
        #expect(
            board.received(topic: "tele/kitchen/LWT", payload: "Online", at: at(4))
                == [.publishAvailability(true), askState, .send(BoardMessage(topic: "cmnd/kitchen/POWER1", payload: "ON"))])
    }

    @Test("a state is published once per change, but a query or command is answered even if nothing changed")
    func statesOnce() {
        var board = BoardMirror(dialect: tasmota)
        _ = board.received(topic: "tele/kitchen/LWT", payload: "Online", at: at(0))
        #expect(board.received(topic: "stat/kitchen/RESULT", payload: #"{"POWER":"OFF"}"#, at: at(1)) == [.publishState(name: "light", on: false)])
        #expect(board.received(topic: "stat/kitchen/RESULT", payload: #"{"POWER":"OFF"}"#, at: at(2)).isEmpty)
        #expect(board.command(.query, for: "light", at: at(3)) == [askState])
        #expect(board.received(topic: "stat/kitchen/RESULT", payload: #"{"POWER":"OFF"}"#, at: at(4)) == [.publishState(name: "light", on: false)])
        #expect(board.received(topic: "stat/kitchen/POWER", payload: "OFF", at: at(4)).isEmpty, "the question was answered once")
        #expect(board.received(topic: "stat/kitchen/POWER", payload: "ON", at: at(5)) == [.publishState(name: "light", on: true)])
        _ = board.command(.set(on: true, pulseMilliseconds: nil), for: "light", at: at(6))
        #expect(board.received(topic: "stat/kitchen/RESULT", payload: #"{"POWER":"ON"}"#, at: at(7)) == [.publishState(name: "light", on: true)])
        #expect(board.received(topic: "stat/kitchen/POWER", payload: "ON", at: at(7)).isEmpty)
    }

    @Test("ESPHome's nan clears the value (no reading), once; a number keeps the node's spelling")
    func noReading() {
        var node = BoardMirror(dialect: ESPHomeDialect(prefix: "porch", switches: [], sensors: [.init(name: "temperature", id: "temperature")]))
        #expect(node.received(topic: "porch/sensor/temperature/state", payload: "21.0", at: at(0)) == [.publishValue(name: "temperature", "21.0")])
        #expect(node.received(topic: "porch/sensor/temperature/state", payload: "nan", at: at(1)) == [.publishValue(name: "temperature", nil)])
        #expect(node.received(topic: "porch/sensor/temperature/state", payload: "nan", at: at(2)).isEmpty)
        #expect(node.values["temperature"] == nil)
        #expect(node.received(topic: "porch/sensor/temperature/state", payload: "None", at: at(3)).isEmpty, "publish_nan_as_none")
        #expect(node.received(topic: "porch/sensor/temperature/state", payload: "-3.50", at: at(4)) == [.publishValue(name: "temperature", "-3.50")])
    }

    @Test("queries answered from the record where the firmware cannot be asked; malformed input is reported")
    func recordsAndErrors() {
        var node = BoardMirror(dialect: ESPHomeDialect(prefix: "porch", switches: [.init(name: "light", id: "relay")]))
        _ = node.received(topic: "porch/status", payload: "online", at: at(0))
        #expect(node.command(.query, for: "light", at: at(1)) == [.refuse(name: "light", reason: "the board has not reported light yet")])
        _ = node.received(topic: "porch/switch/relay/state", payload: "ON", at: at(2))
        #expect(node.command(.query, for: "light", at: at(3)) == [.publishState(name: "light", on: true)])
        #expect(
            node.command(.set(on: true, pulseMilliseconds: nil), for: "fan", at: at(4)) == [
                .refuse(name: "fan", reason: "fan is not an output of this board")
            ])
        var board = BoardMirror(dialect: tasmota)
        let malformed = board.received(topic: "stat/kitchen/RESULT", payload: "{not json", at: at(0))
        #expect(malformed.count == 1)
        guard case .refuse(_, let reason)? = malformed.first else { return }
        #expect(reason.hasPrefix("stat/kitchen/RESULT: malformed JSON"))
        #expect(board.states.isEmpty)
    }
}
