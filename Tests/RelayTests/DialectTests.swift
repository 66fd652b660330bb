import Profile
import Relay
import Scheme
import Testing

@Suite("Tasmota's topics and payloads")
struct TasmotaDialectTests {
    let board = TasmotaDialect(
        topic: "tasmota_A1B2C3", relays: [.init(name: "light", index: 1), .init(name: "fan", index: 2)],
        sensorFields: [.init(name: "temperature", path: ["BME280", "Temperature"])])

    @Test("it watches LWT, STATE, SENSOR and stat under the default FullTopic")
    func subscriptions() {
        #expect(
            board.subscriptions == ["tele/tasmota_A1B2C3/LWT", "tele/tasmota_A1B2C3/STATE", "tele/tasmota_A1B2C3/SENSOR", "stat/tasmota_A1B2C3/+"])
    }

    @Test("a custom FullTopic puts the prefix where it says")
    func fullTopic() {
        let custom = TasmotaDialect(topic: "kitchen", fullTopic: "home/%topic%/%prefix%/", relays: [.init(name: "light", index: 1)])
        #expect(custom.topic("cmnd", "POWER1") == "home/kitchen/cmnd/POWER1")
        #expect(custom.events(topic: "home/kitchen/tele/LWT", payload: "Online") == [.availability(true)])
    }

    @Test("LWT Online and Offline are availability")
    func lwt() {
        #expect(board.events(topic: "tele/tasmota_A1B2C3/LWT", payload: "Online") == [.availability(true)])
        #expect(board.events(topic: "tele/tasmota_A1B2C3/LWT", payload: "Offline") == [.availability(false)])
    }

    @Test("RESULT with POWER, POWER1 (SetOption26) or POWER2, and stat POWERn in any case")
    func states() {
        #expect(board.events(topic: "stat/tasmota_A1B2C3/RESULT", payload: #"{"POWER":"ON"}"#) == [.state(name: "light", on: true)])
        #expect(board.events(topic: "stat/tasmota_A1B2C3/RESULT", payload: #"{"POWER1":"OFF"}"#) == [.state(name: "light", on: false)])
        #expect(board.events(topic: "stat/tasmota_A1B2C3/RESULT", payload: #"{"POWER2":"ON"}"#) == [.state(name: "fan", on: true)])
        #expect(board.events(topic: "stat/tasmota_A1B2C3/POWER2", payload: "OFF") == [.state(name: "fan", on: false)])
        #expect(board.events(topic: "stat/tasmota_A1B2C3/Power1", payload: "ON") == [.state(name: "light", on: true)])
        #expect(
            board.events(topic: "tele/tasmota_A1B2C3/STATE", payload: #"{"Time":"2026-11-26T10:00:00","POWER1":"ON","POWER2":"OFF"}"#)
                == [.state(name: "light", on: true), .state(name: "fan", on: false)])
    }

    @Test("SENSOR fields chosen by path become values")
    func sensor() {
        let payload = #"{"Time":"2026-11-26T10:00:00","BME280":{"Temperature":21.5,"Humidity":40.1},"TempUnit":"C"}"#
        #expect(board.events(topic: "tele/tasmota_A1B2C3/SENSOR", payload: payload) == [.value(name: "temperature", "21.5")])
    }

    @Test("malformed JSON is an error event, not a crash or a state")
    func malformed() {
        let events = board.events(topic: "stat/tasmota_A1B2C3/RESULT", payload: #"{"POWER":"ON""#)
        guard case .malformed(let topic, let reason)? = events.first else {
            Issue.record("expected a malformed event, got \(events)")
            return
        }
        #expect(topic == "stat/tasmota_A1B2C3/RESULT")
        #expect(reason.hasPrefix("malformed JSON: "))
        #expect(
            board.events(topic: "stat/tasmota_A1B2C3/POWER1", payload: "MAYBE") == [
                .malformed(topic: "stat/tasmota_A1B2C3/POWER1", reason: #""MAYBE" is not ON or OFF"#)
            ])
    }

    @Test("commands: ON/OFF/TOGGLE on POWERn, an empty query, and a pulse the board times itself")
    func commands() {
        #expect(
            board.command(.set(on: true, pulseMilliseconds: nil), for: "fan", current: nil)
                == .send([BoardMessage(topic: "cmnd/tasmota_A1B2C3/POWER2", payload: "ON")]))
        #expect(
            board.command(.toggle(pulseMilliseconds: nil), for: "light", current: nil)
                == .send([BoardMessage(topic: "cmnd/tasmota_A1B2C3/POWER1", payload: "TOGGLE")]))
        #expect(board.command(.query, for: "light", current: nil) == .send([BoardMessage(topic: "cmnd/tasmota_A1B2C3/STATE", payload: "")]))
        #expect(
            board.command(.set(on: true, pulseMilliseconds: 450), for: "light", current: nil)
                == .send([BoardMessage(topic: "cmnd/tasmota_A1B2C3/Backlog", payload: "POWER1 ON; Delay 5; POWER1 OFF")]))
        #expect(board.command(.set(on: true, pulseMilliseconds: nil), for: "heater", current: nil) == .refused("heater is not a relay of this board"))
    }
}

@Suite("ESPHome's topics and payloads")
struct ESPHomeDialectTests {
    let node = ESPHomeDialect(
        prefix: "porch", switches: [.init(name: "light", id: "relay_1")],
        binarySensors: [.init(name: "motion", id: "pir")], sensors: [.init(name: "temperature", id: "dht_temperature")])

    @Test("status is the birth and will; switch, binary sensor and sensor states")
    func events() {
        #expect(node.events(topic: "porch/status", payload: "online") == [.availability(true)])
        #expect(node.events(topic: "porch/status", payload: "offline") == [.availability(false)])
        #expect(node.events(topic: "porch/switch/relay_1/state", payload: "ON") == [.state(name: "light", on: true)])
        #expect(node.events(topic: "porch/binary_sensor/pir/state", payload: "OFF") == [.state(name: "motion", on: false)])
        #expect(node.events(topic: "porch/sensor/dht_temperature/state", payload: "21.4") == [.value(name: "temperature", "21.4")])
        #expect(node.events(topic: "porch/sensor/dht_temperature/state", payload: "nan") == [.noReading(name: "temperature")])
        #expect(node.events(topic: "porch/sensor/dht_temperature/state", payload: "None") == [.noReading(name: "temperature")])
        #expect(
            node.events(topic: "porch/sensor/dht_temperature/state", payload: "warm")
                == [.malformed(topic: "porch/sensor/dht_temperature/state", reason: #""warm" is not a number"#)])
        #expect(
            node.events(topic: "porch/sensor/dht_temperature/state", payload: "0x1A")
                == [.malformed(topic: "porch/sensor/dht_temperature/state", reason: #""0x1A" is not a number"#)])
        #expect(node.events(topic: "porch/sensor/other/state", payload: "1").isEmpty)
    }

    @Test("a sketch sharing its topic tells its JSON messages apart with match: others' are not its own, not even as a sign of life")
    func plainMatch() {
        let shed = PubSubClientDialect(
            values: [.init(name: "temperature", topic: "home/climate", jsonPath: ["temp"])],
            match: PlainMatch(path: ["board"], value: "shed"))
        #expect(
            shed.events(topic: "home/climate", payload: #"{"board":"shed","temp":4.5}"#) == [.availability(true), .value(name: "temperature", "4.5")])
        #expect(shed.events(topic: "home/climate", payload: #"{"board":"garage","temp":19}"#).isEmpty)
        #expect(shed.events(topic: "home/climate", payload: "17").isEmpty, "not JSON: not this sketch's")
        let numbered = PubSubClientDialect(values: [.init(name: "t", topic: "x", jsonPath: ["t"])], match: PlainMatch(path: ["id"], value: "7"))
        #expect(numbered.events(topic: "x", payload: #"{"id":7,"t":1}"#) == [.availability(true), .value(name: "t", "1")])
    }

    @Test("entities with their own state and command topics (set in the node's YAML)")
    func ownTopics() {
        let custom = ESPHomeDialect(
            prefix: "porch", switches: [.init(name: "light", id: "relay_1", stateTopic: "porch/light", commandTopic: "porch/light/set")],
            sensors: [.init(name: "soil", id: "soil", stateTopic: "garden/soil")])
        #expect(custom.subscriptions.contains("porch/light") && custom.subscriptions.contains("garden/soil"))
        #expect(custom.events(topic: "porch/light", payload: "ON") == [.state(name: "light", on: true)])
        #expect(custom.events(topic: "garden/soil", payload: "41.5") == [.value(name: "soil", "41.5")])
        #expect(
            custom.command(.set(on: false, pulseMilliseconds: nil), for: "light", current: nil)
                == .send([BoardMessage(topic: "porch/light/set", payload: "OFF")]))
    }

    @Test("a declared node's states for object ids the profile does not name are reported; an announced node's are not")
    func undeclared() {
        var declared = node
        declared.reportsUndeclared = true
        #expect(declared.events(topic: "porch/binary_sensor/motion/state", payload: "ON") == [.undeclared("binary_sensor/motion")])
        #expect(declared.events(topic: "porch/text_sensor/version/state", payload: "x").isEmpty, "a kind the relay does not mirror")
        #expect(node.events(topic: "porch/binary_sensor/motion/state", payload: "ON").isEmpty)
        var mirror = BoardMirror(dialect: declared)
        #expect(mirror.received(topic: "porch/binary_sensor/motion/state", payload: "ON", at: .now).count == 1)
        #expect(mirror.received(topic: "porch/binary_sensor/motion/state", payload: "OFF", at: .now).isEmpty, "reported once")
    }

    @Test("commands go to the switch's command topic; a query is answered from the relay's record; no pulse")
    func commands() {
        #expect(
            node.command(.set(on: false, pulseMilliseconds: nil), for: "light", current: nil)
                == .send([BoardMessage(topic: "porch/switch/relay_1/command", payload: "OFF")]))
        #expect(
            node.command(.toggle(pulseMilliseconds: nil), for: "light", current: nil)
                == .send([BoardMessage(topic: "porch/switch/relay_1/command", payload: "TOGGLE")]))
        #expect(node.command(.query, for: "light", current: true) == .answerFromRecord)
        guard case .refused = node.command(.set(on: true, pulseMilliseconds: 500), for: "light", current: nil) else {
            Issue.record("a pulse was accepted")
            return
        }
    }
}

@Suite("A plain PubSubClient sketch (the tutorial board)")
struct PubSubClientDialectTests {
    let sketch = PubSubClientDialect(
        values: [.init(name: "number", topic: "test")], commands: [.init(name: "led", topic: "test/led", on: "1", off: "0")])

    @Test("its numbers become values and prove it is alive; words are malformed")
    func values() {
        #expect(sketch.subscriptions == ["test"])
        #expect(sketch.events(topic: "test", payload: "417") == [.availability(true), .value(name: "number", "417")])
        #expect(
            sketch.events(topic: "test", payload: "hello world")
                == [.availability(true), .malformed(topic: "test", reason: #""hello world" is not a number"#)])
        #expect(sketch.events(topic: "other", payload: "1").isEmpty)
    }

    @Test("a sketch of one's own: a number inside JSON, and a door contact's words as an input")
    func jsonAndInputs() {
        let shed = PubSubClientDialect(
            values: [.init(name: "temperature", topic: "shed/climate", jsonPath: ["bme", "temp"])],
            inputs: [.init(name: "door", topic: "shed/door", on: "open", off: "closed")])
        #expect(shed.subscriptions == ["shed/climate", "shed/door"])
        #expect(shed.inputs == ["door"] && shed.sensors == ["temperature"])
        #expect(
            shed.events(topic: "shed/climate", payload: #"{"bme":{"temp":4.5,"hum":80}}"#) == [
                .availability(true), .value(name: "temperature", "4.5"),
            ])
        #expect(
            shed.events(topic: "shed/climate", payload: #"{"bme":{"hum":80}}"#)
                == [.availability(true), .malformed(topic: "shed/climate", reason: "the JSON has no bme.temp")])
        #expect(
            shed.events(topic: "shed/climate", payload: "{oops")
                == [.availability(true), .malformed(topic: "shed/climate", reason: "malformed JSON, expected bme.temp")])
        #expect(shed.events(topic: "shed/door", payload: "open\n") == [.availability(true), .state(name: "door", on: true)])
        #expect(shed.events(topic: "shed/door", payload: "closed") == [.availability(true), .state(name: "door", on: false)])
        #expect(
            shed.events(topic: "shed/door", payload: "ajar")
                == [.availability(true), .malformed(topic: "shed/door", reason: #""ajar" is neither "open" nor "closed""#)])
    }

    @Test("ON/OFF become its payloads; TOGGLE uses the recorded state; no pulse")
    func commands() {
        #expect(
            sketch.command(.set(on: true, pulseMilliseconds: nil), for: "led", current: nil) == .send([BoardMessage(topic: "test/led", payload: "1")])
        )
        #expect(sketch.command(.toggle(pulseMilliseconds: nil), for: "led", current: true) == .send([BoardMessage(topic: "test/led", payload: "0")]))
        #expect(
            sketch.command(.toggle(pulseMilliseconds: nil), for: "led", current: nil)
                == .refused("the board's state is not known yet, so it cannot be toggled; send ON or OFF"))
        #expect(sketch.command(.query, for: "led", current: false) == .answerFromRecord)
    }
}
