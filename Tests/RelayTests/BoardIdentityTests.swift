import JSON
import Profile
import Testing

@testable import Relay

private let start = ContinuousClock.now
private func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

private func core(_ yaml: String) throws -> RelayCore {
    RelayCore(profile: try ProfileLoader.decodeRelay(yaml, file: "test.yml"), at: at(0), unixNow: 0)
}

private func retained(_ actions: [RelayCore.Action]) -> [String: String] {
    var topics: [String: String] = [:]
    for case .retain(let topic, let payload, _) in actions { topics[topic] = payload }
    return topics
}

/// The component `id` of a device config.
private func component(_ config: String?, _ id: String) throws -> JSONValue {
    let text = try #require(config)
    return try #require(try JSONValue(parsing: text)["cmps"]?[id])
}

private let kitchenConfig = "homeassistant/device/gpiobridge_kitchen/config"
private let declared = """
    relay: {id: hub}
    fleet: {host: localhost}
    boards:
      - name: kitchen
        tasmota: {topic: tasmota_A1B2C3, relays: {light: 1}, sensors: {temperature: AM2301.Temperature, pressure: BMP280.Pressure}}
      - name: porch
        esphome: {node: porch, switches: {light: relay_1}, sensors: {temperature: temperature}}
    discovery: true
    """

@Suite("Mirrored boards as their owners know them: identity, units, values (mock clock)")
struct BoardIdentityTests {
    @Test("a declared board's first Home Assistant config waits for the board's own announcement, so it carries the MAC")
    func identityFirst() throws {
        var relay = try core(declared)
        _ = relay.start()
        let connected = relay.fleetConnected(at: at(0))
        #expect(retained(connected)[kitchenConfig] == nil, "no config before the board's identity is known")
        _ = relay.boardsBroker(up: true, at: at(0.5))
        let announcement = #"{"mac":"A4CF12A1B2C3","t":"tasmota_A1B2C3","rl":[1],"ver":1}"#
        let known = relay.boardMessage(topic: "tasmota/discovery/A4CF12A1B2C3/config", payload: announcement, at: at(0.6))
        #expect(retained(known)[kitchenConfig]?.contains(#""cns":[["mac","a4cf12a1b2c3"]]"#) == true)
        #expect(relay.boardNames == ["kitchen", "porch"], "the announcement of a declared board adds no board")
    }

    @Test("declared boards' announcements are read even when discovery of new boards is off")
    func announcementsOfDeclaredBoards() throws {
        let relay = try core(declared)
        guard case .subscribeBoards(let filters)? = relay.start().first else {
            Issue.record("no board subscriptions")
            return
        }
        #expect(filters.contains("tasmota/discovery/+/config") && filters.contains("tasmota/discovery/+/sensors"))
        #expect(filters.contains("homeassistant/+/porch/+/config"))
        var other = relay
        let stranger = other.boardMessage(topic: "tasmota/discovery/A4CF12000009/config", payload: #"{"t":"tasmota_000009","rl":[1]}"#, at: at(1))
        #expect(other.boardNames == ["kitchen", "porch"] && retained(stranger).isEmpty, "another board is not mirrored: discover is off")
    }

    @Test("a board that never announces itself is announced to Home Assistant after the wait, with a log line saying why")
    func identityNeverCame() throws {
        var relay = try core(declared)
        _ = relay.fleetConnected(at: at(0))
        _ = relay.boardsBroker(up: true, at: at(1))
        #expect(retained(relay.tick(at: at(3.9)))[kitchenConfig] == nil, "the wait restarts when the boards' broker is reached")
        let late = relay.tick(at: at(4.1))
        #expect(retained(late)[kitchenConfig] != nil)
        #expect(late.contains { if case .log(let text) = $0 { text.contains("kitchen: the board did not announce itself") } else { false } })
    }

    @Test("units and classes: Tasmota's from the field and the board's TempUnit and PressureUnit; ESPHome's from the node's config")
    func units() throws {
        var relay = try core(declared)
        _ = relay.fleetConnected(at: at(0))
        _ = relay.boardsBroker(up: true, at: at(0))
        _ = relay.boardMessage(
            topic: "tasmota/discovery/A4CF12A1B2C3/sensors",
            payload: #"{"sn":{"AM2301":{"Temperature":70.1},"BMP280":{"Pressure":29.9},"TempUnit":"F","PressureUnit":"inHg"},"ver":1}"#, at: at(0.1))
        let kitchen = relay.boardMessage(
            topic: "tasmota/discovery/A4CF12A1B2C3/config", payload: #"{"mac":"A4CF12A1B2C3","t":"tasmota_A1B2C3","rl":[1]}"#, at: at(0.2))
        let temperature = try component(retained(kitchen)[kitchenConfig], "temperature")
        #expect(temperature["unit_of_meas"] == .string("°F") && temperature["dev_cla"] == .string("temperature"))
        #expect(temperature["stat_cla"] == .string("measurement"))
        let pressure = try component(retained(kitchen)[kitchenConfig], "pressure")
        #expect(pressure["unit_of_meas"] == .string("inHg") && pressure["dev_cla"] == .string("pressure"))
        let node =
            #"{"name":"Temperature","stat_t":"porch/sensor/temperature/state","avty_t":"porch/status","uniq_id":"a4cf12d4e5f6-sensor-temperature","unit_of_meas":"°C","dev_cla":"temperature","stat_cla":"measurement","dev":{"ids":"a4cf12d4e5f6","name":"porch","sw":"2026.10.0","mf":"Espressif"}}"#
        let porch = relay.boardMessage(topic: "homeassistant/sensor/porch/temperature/config", payload: node, at: at(0.3))
        let porchTemperature = try component(retained(porch)["homeassistant/device/gpiobridge_porch/config"], "temperature")
        #expect(porchTemperature["unit_of_meas"] == .string("°C") && porchTemperature["dev_cla"] == .string("temperature"))
        #expect(porchTemperature["val_tpl"] == .string("{{ value if value else 'None' }}"), "an empty value is unknown, not an error")
        #expect(porchTemperature["name"] == .string("Temperature"), "the node's name for it")
    }

    @Test("an announced node's entities are named in Home Assistant as the node names them, not by object id")
    func friendlyNames() throws {
        var relay = try core("fleet: {host: localhost}\ndiscover: {esphome: true}\ndiscovery: true")
        _ = relay.boardsBroker(up: true, at: at(0))
        _ = relay.fleetConnected(at: at(0))
        let config =
            #"{"name":"Relay #2 (Garage)","stat_t":"shed/switch/relay__2__garage_/state","cmd_t":"shed/switch/relay__2__garage_/command","avty_t":"shed/status","uniq_id":"x-switch-relay__2__garage_","dev":{"ids":"x","sw":"2026.10.0","mf":"Espressif"},"o":{"name":"esphome"}}"#
        _ = relay.boardMessage(topic: "homeassistant/switch/shed/relay__2__garage_/config", payload: config, at: at(1))
        let added = relay.tick(at: at(1.5))
        let relay2 = try component(retained(added)["homeassistant/device/gpiobridge_shed/config"], "relay__2__garage_")
        #expect(relay2["name"] == .string("Relay #2 (Garage)"))
        #expect(relay2["cmd_t"] == .string("gpiobridge/shed/relay__2__garage_/set"))
    }

    @Test("values are retained with the board's spelling; no reading clears them; a withdrawn board's values go too")
    func values() throws {
        var relay = try core("fleet: {host: localhost}\ndiscover: {esphome: true}")
        _ = relay.boardsBroker(up: true, at: at(0))
        _ = relay.fleetConnected(at: at(0))
        let config =
            #"{"name":"Temperature","stat_t":"shed/sensor/temperature/state","avty_t":"shed/status","uniq_id":"x-sensor-temperature","dev":{"ids":"x","sw":"esphome v2026.10.0"}}"#
        _ = relay.boardMessage(topic: "homeassistant/sensor/shed/temperature/config", payload: config, at: at(1))
        _ = relay.tick(at: at(1.5))
        #expect(
            retained(relay.boardMessage(topic: "shed/sensor/temperature/state", payload: "21.0", at: at(2)))["gpiobridge/shed/temperature"] == "21.0")
        #expect(retained(relay.boardMessage(topic: "shed/sensor/temperature/state", payload: "nan", at: at(3)))["gpiobridge/shed/temperature"] == "")
        _ = relay.boardMessage(topic: "shed/sensor/temperature/state", payload: "20.5", at: at(4))
        let gone = relay.boardMessage(topic: "homeassistant/sensor/shed/temperature/config", payload: "", at: at(5))
        #expect(retained(gone)["gpiobridge/shed/temperature"] == "", "the withdrawn board's value is cleared")
    }

    @Test(
        "ESPHome nodes with birth and will off: announced ones count as online once heard from (and say so); declared ones use the profile's silence")
    func statuslessNodes() throws {
        var relay = try core(
            """
            fleet: {host: localhost}
            boards:
              - {name: porch, esphome: {node: porch, switches: {light: relay_1}, silence: 30s}}
            discover: {esphome: true}
            """)
        _ = relay.boardsBroker(up: true, at: at(0))
        _ = relay.fleetConnected(at: at(0))
        let config =
            #"{"name":"Pump","stat_t":"shed/switch/pump/state","cmd_t":"shed/switch/pump/command","uniq_id":"x-switch-pump","dev":{"ids":"x","sw":"2026.10.0","mf":"Espressif"}}"#
        _ = relay.boardMessage(topic: "homeassistant/switch/shed/pump/config", payload: config, at: at(1))
        let added = relay.tick(at: at(1.5))
        #expect(added.contains { if case .log(let text) = $0 { text.contains("ESPHome node shed announces no status topic") } else { false } })
        #expect(retained(relay.boardMessage(topic: "shed/switch/pump/state", payload: "OFF", at: at(2)))["gpiobridge/shed/status"] == "online")
        #expect(retained(relay.tick(at: at(3600)))["gpiobridge/shed/status"] == nil, "a switch-only node may be silent for hours")
        #expect(retained(relay.boardMessage(topic: "porch/switch/relay_1/state", payload: "ON", at: at(3601)))["gpiobridge/porch/status"] == "online")
        #expect(retained(relay.tick(at: at(3631)))["gpiobridge/porch/status"] == "offline", "the declared node's silence: 30s")
    }

    @Test("the relay profile's unit and device_class win over the board's; a unit the board's class does not take drops the class")
    func profileUnits() throws {
        var relay = try core(
            """
            fleet: {host: localhost}
            boards:
              - name: kitchen
                tasmota:
                  topic: tasmota_A1B2C3
                  relays: {light: 1}
                  sensors: {water: {field: DS18B20.Temperature, unit: °F}, raw: {field: ADC.Temperature, unit: counts}, fridge: SHT3X.Temperature}
              - name: shed
                pubsubclient: {interval: 3s, values: {soil: {topic: shed/soil, unit: "%", device_class: moisture}, number: test}}
            discovery: true
            """)
        _ = relay.fleetConnected(at: at(0))
        let connected = relay.tick(at: at(4))
        let kitchen = retained(connected)[kitchenConfig]
        #expect(try component(kitchen, "water")["unit_of_meas"] == .string("°F") && component(kitchen, "water")["dev_cla"] == .string("temperature"))
        #expect(try component(kitchen, "raw")["unit_of_meas"] == .string("counts") && component(kitchen, "raw")["dev_cla"] == nil)
        #expect(try component(kitchen, "fridge")["unit_of_meas"] == .string("°C"), "the board's default, the profile says nothing")
        let shed = retained(relay.fleetConnected(at: at(5)))["homeassistant/device/gpiobridge_shed/config"]
        #expect(try component(shed, "soil")["unit_of_meas"] == .string("%") && component(shed, "soil")["dev_cla"] == .string("moisture"))
        #expect(try component(shed, "soil")["stat_cla"] == .string("measurement"))
        #expect(try component(shed, "number")["unit_of_meas"] == nil && component(shed, "number")["dev_cla"] == nil)
    }

    @Test("an announced entity's own state and command topics are taken from its config")
    func announcedOwnTopics() throws {
        var relay = try core("fleet: {host: localhost}\ndiscover: {esphome: true}")
        _ = relay.boardsBroker(up: true, at: at(0))
        _ = relay.fleetConnected(at: at(0))
        let config =
            #"{"name":"Pump","stat_t":"shed/pump","cmd_t":"shed/pump/do","avty_t":"shed/status","uniq_id":"x-switch-pump","dev":{"ids":"x","sw":"2026.10.0","mf":"Espressif"}}"#
        _ = relay.boardMessage(topic: "homeassistant/switch/shed/pump/config", payload: config, at: at(1))
        let defined = relay.tick(at: at(1.5))
        #expect(
            defined.contains {
                if case .subscribeBoards(let filters) = $0 { filters.contains("shed/pump") && filters.contains("shed/status") } else { false }
            })
        _ = relay.boardMessage(topic: "shed/status", payload: "online", at: at(2))
        #expect(retained(relay.boardMessage(topic: "shed/pump", payload: "OFF", at: at(2)))["gpiobridge/shed/pump"] == "OFF")
        let sent = relay.fleetMessage(topic: "gpiobridge/shed/pump/set", payload: "ON", at: at(3))
        #expect(sent.contains(.send(topic: "shed/pump/do", payload: "ON")))
    }
}
