import Foundation
import Hardware
import MQTT
import Testing

@testable import Profile

/// An example as written: the files it names (a CA in /etc, a password beside it) are not here.
private func example(_ name: String) throws -> Profile {
    try ProfileLoader.load(path: profilesDirectory.appendingPathComponent(name).path, checkingFiles: false)
}

@Suite("YAML with locations")
struct YAMLTests {
    @Test("nodes carry 1-based lines and columns; scalars stay text")
    func locations() throws {
        let root = try #require(try YAMLParser.parse("a: 1\nlist:\n  - x\n  - 'ON'\n"))
        guard case .mapping(let entries) = root.kind else {
            Issue.record("not a mapping")
            return
        }
        #expect(entries.map { $0.key.scalar } == ["a", "list"])
        #expect(entries[0].value.location == SourceLocation(line: 1, column: 4))
        guard case .sequence(let items) = entries[1].value.kind else {
            Issue.record("not a list")
            return
        }
        #expect(items.map(\.location) == [SourceLocation(line: 3, column: 5), SourceLocation(line: 4, column: 5)])
        #expect(items[1].scalar == "ON")
        guard case .scalar(_, let plain) = items[1].kind else { return }
        #expect(!plain, "a quoted scalar is never null or a keyword")
    }

    @Test("anchors and aliases resolve; an unknown alias and a duplicate key are errors")
    func aliases() throws {
        let root = try #require(try YAMLParser.parse("base: &b {x: 1}\ncopy: *b\n"))
        guard case .mapping(let entries) = root.kind, case .mapping(let copied) = entries[1].value.kind else {
            Issue.record("unexpected shape")
            return
        }
        #expect(copied.first?.value.scalar == "1")
        #expect(throws: YAMLSyntaxError.self) { try YAMLParser.parse("a: *missing\n") }
        #expect(
            throws: YAMLSyntaxError(
                location: SourceLocation(line: 2, column: 1),
                message: "the key \"a\" appears twice in this mapping (first at line 1)")
        ) {
            try YAMLParser.parse("a: 1\na: 2\n")
        }
    }

    @Test("null is ~, null or nothing, and only when plain")
    func nulls() throws {
        let root = try #require(try YAMLParser.parse("a:\nb: ~\nc: null\nd: 'null'\n"))
        guard case .mapping(let entries) = root.kind else { return }
        #expect(entries.map(\.value.isNull) == [true, true, true, false])
    }
}

@Suite("The example profiles")
struct ExampleProfileTests {
    @Test("relay.yml: active-low relays off at boot, a pulse channel, an interlock both ways, discovery")
    func relay() throws {
        let profile = try example("relay.yml")
        #expect(profile.device.id == "garage-pi")
        #expect(profile.outputs.map(\.name) == ["light", "door_opener", "shutter_up", "shutter_down"])
        #expect(profile.outputs.allSatisfy { $0.activeLow && $0.initial == .off && $0.safeState == .off })
        #expect(profile.outputs[1].pulseMilliseconds == 500)
        #expect(profile.outputs[2].interlock == ["shutter_down"])
        #expect(profile.outputs[3].interlock == ["shutter_up"], "written on one side, it holds both ways")
        #expect(profile.outputs[0].line == .name("GPIO17"))
        #expect(profile.outputs[0].stateTopic == "gpiobridge/garage-pi/light")
        #expect(profile.outputs[0].commandTopic == "gpiobridge/garage-pi/light/set")
        #expect(profile.broker.password == .file(profilesDirectory.path + "/mqtt-password"), "relative to the profile")
        #expect(profile.broker.sessionExpirySeconds == 3600)
        #expect(profile.broker.clientID == "gpiobridge-garage-pi-\(MachineIdentity.suffix)")
        #expect(MachineIdentity.suffix.count == 6 && MachineIdentity.suffix.allSatisfy(\.isHexDigit))
        #expect(profile.safety == SafetySettings(brokerGraceMilliseconds: 30_000, safeOnShutdown: true))
        #expect(profile.discovery == DiscoverySettings(enabled: true, prefix: "homeassistant"))
        #expect(profile.statusTopic == "gpiobridge/garage-pi/status")
    }

    @Test("sensors.yml: a BME280, a BH1750 and a debounced button")
    func sensors() throws {
        let profile = try example("sensors.yml")
        #expect(profile.sensors.map(\.model) == [.bme280, .bh1750])
        #expect(profile.sensors[0].address == 0x76 && profile.sensors[0].intervalMilliseconds == 30_000)
        #expect(profile.sensors[0].units == [.temperature: .celsius, .pressure: .hectopascal, .humidity: .percent], "humidity in its default unit")
        #expect(profile.sensors[1].address == 0x23, "the model's default address")
        #expect(profile.inputs[0].bias == .pullUp && profile.inputs[0].activeLow && profile.inputs[0].debounceMilliseconds == 20)
        #expect(profile.discovery.enabled)
    }

    @Test(
        "show prints a profile that validates and means the same, for every example",
        arguments: ["demo.yml", "relay.yml", "sensors.yml", "tutorial.yml"])
    func showRoundTrip(name: String) throws {
        let profile = try example(name)
        let shown = profile.resolvedDescription
        let again = try ProfileLoader.decode(shown, file: "shown.yml", checkingFiles: false)
        #expect(withoutOrigins(again) == withoutOrigins(profile), "\(shown)")
        #expect(
            again.resolvedDescription.split(separator: "\n").dropFirst() == shown.split(separator: "\n").dropFirst(),
            "showing it again changes nothing")
    }

    @Test("text that YAML could read otherwise is quoted, and reads back the same")
    func scalarQuoting() throws {
        let texts = [
            "ON", "on", "yes", "42", "1.5", "0x20", "-x", "a: b", "a #b", "#", "%", "sensors/+/temp", "line\nbreak", "\"quoted\"", "", "tab\there",
            "é", "del\u{7F}", "c1\u{9B}", "plain-text_1.0/x",
        ]
        for text in texts {
            let yaml = "value: \(yamlScalar(text))\n"
            let root = try #require(try YAMLParser.parse(yaml))
            guard case .mapping(let entries) = root.kind else {
                Issue.record("not a mapping: \(yaml)")
                continue
            }
            #expect(entries.first?.value.scalar == text, "\(yaml)")
        }
        #expect(yamlScalar("plain-text_1.0/x") == "plain-text_1.0/x")
    }

    @Test("the files a profile names must exist: each missing one is located, and show still reads it")
    func missingFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gpiobridge-files-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("profile.yml").path
        let yaml = """
            broker:
              host: broker.example
              tls: {ca: /nonexistent/ca.crt, cert: client.crt, key: \(directory.path)}
              username: pi
              password_file: mqtt-password
            device: {id: pi}

            """
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ProfileError.self) { try ProfileLoader.load(path: path) }
        do {
            _ = try ProfileLoader.load(path: path)
        } catch {
            let lines = error.description.split(separator: "\n").map(String.init)
            #expect(
                lines.contains(
                    "\(path):3:13: broker.tls.ca: the CA certificate /nonexistent/ca.crt does not exist (fix: create it, or correct the path)"),
                "\(lines)")
            #expect(
                lines.contains(
                    "\(path):3:40: broker.tls.cert: the client certificate \(directory.path)/client.crt does not exist (fix: create it; a relative path is beside the profile)"
                ), "\(lines)")
            #expect(
                lines.contains { $0.hasPrefix("\(path):3:") && $0.contains("broker.tls.key: \(directory.path) is a directory, not the client key") },
                "\(lines)")
            #expect(
                lines.contains(
                    "\(path):5:18: broker.password_file: the password file \(directory.path)/mqtt-password does not exist (fix: create it; a relative path is beside the profile)"
                ), "\(lines)")
            #expect(error.issues.count == 4)
        }
        #expect(try ProfileLoader.load(path: path, checkingFiles: false).broker.password == .file(directory.path + "/mqtt-password"))
        for file in ["client.crt", "mqtt-password"] {
            try "x\n".write(toFile: directory.appendingPathComponent(file).path, atomically: true, encoding: .utf8)
        }
        try yaml.replacingOccurrences(of: "key: \(directory.path)", with: "key: client.crt").replacingOccurrences(
            of: "/nonexistent/ca.crt", with: "client.crt"
        )
        .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try ProfileLoader.load(path: path).broker.tls?.caFile == directory.path + "/client.crt")
    }

    @Test("tutorial.yml: TLS on 8883 with a CA, a user and a password; subscribe to test; a number every 3 s on its own topic")
    func tutorial() throws {
        let profile = try example("tutorial.yml")
        #expect(profile.broker.port == 8883)
        #expect(profile.broker.tls == TLSSettings(caFile: "/etc/gpiobridge/ca.crt", certificateFile: nil, keyFile: nil, insecure: false))
        #expect(profile.broker.username == "esp-tutorial" && profile.broker.password == .environment("MQTT_PASSWORD"))
        #expect(profile.subscriptions.map(\.filter.description) == ["test"])
        #expect(
            profile.publishers.first?.topic == "gpiobridge/tutorial-pi/number" && profile.publishers.first?.intervalMilliseconds == 3000,
            "its own topic: test is the ESP8266's, which fleet.yml mirrors")
        #expect(profile.device.id == "tutorial-pi")
        #expect(profile.publishers.first?.value == .random(min: 1, max: 499), "the sketch's random(1, 500)")
    }

    @Test("demo.yml runs on the simulated chip's lines")
    func demo() throws {
        let profile = try example("demo.yml")
        #expect(profile.outputs.map(\.line) == [.name("GPIO17")])
        #expect(profile.inputs.map(\.line) == [.name("GPIO27")])
        #expect(profile.publishers.first?.value == .uptime)
    }

    @Test("the reconnect bounds: 100 ms and 2 s unless the profile sets them; profile show spells them out")
    func reconnectBounds() throws {
        let defaults = try ProfileLoader.decode("device: {id: a}", file: "a.yml")
        #expect(defaults.broker.reconnectMinimumMilliseconds == 100 && defaults.broker.reconnectMaximumMilliseconds == 2000)
        let set = try ProfileLoader.decode("broker: {reconnect_min: 1s, reconnect_max: 1m}\ndevice: {id: a}", file: "a.yml")
        #expect(set.broker.reconnectMinimumMilliseconds == 1000 && set.broker.reconnectMaximumMilliseconds == 60_000)
        let shown = set.resolvedDescription
        #expect(shown.contains("  reconnect_min: 1s") && shown.contains("  reconnect_max: 1m"))
    }

    @Test("durations: ms, s, m, h and bare seconds")
    func durations() {
        #expect(ProfileDecoder.parseDuration("500ms") == 500)
        #expect(ProfileDecoder.parseDuration("3s") == 3000)
        #expect(ProfileDecoder.parseDuration("1.5 s") == 1500)
        #expect(ProfileDecoder.parseDuration("2m") == 120_000)
        #expect(ProfileDecoder.parseDuration("1h") == 3_600_000)
        #expect(ProfileDecoder.parseDuration("10") == 10_000)
        #expect(ProfileDecoder.parseDuration("soon") == nil)
        #expect(ProfileDecoder.parseDuration("-1s") == nil)
    }

    @Test("a duration too large for any clock (the fuzzer's 2e280) is refused as out of range, located, not a crash")
    func hugeDuration() {
        #expect(ProfileDecoder.parseDuration("2e280") == Int.max)
        #expect(ProfileDecoder.parseDuration("1e300h") == Int.max)
        do {
            _ = try ProfileLoader.decode("device: {id: t}\ninputs:\n  - {name: b, line: GPIO5, debounce: 2e280}\n", file: "t.yml")
            Issue.record("accepted")
        } catch {
            #expect(error.issues.map(\.path) == ["inputs[0].debounce"])
            #expect(error.issues.first?.message.contains("out of range") == true, "\(error)")
        }
    }

    @Test(
        "an INA219 shunt and current no calibration can serve, however extreme, are refused, located, not a crash",
        arguments: ["shunt_ohms: 1e300", "shunt_ohms: 1e-300, max_current: 1e-300"])
    func extremeCalibration(options: String) {
        do {
            _ = try ProfileLoader.decode(
                "device: {id: t}\nsensors:\n  - {name: p, model: ina219, bus: 1, address: 0x40, \(options)}\n", file: "t.yml")
            Issue.record("accepted")
        } catch {
            #expect(error.issues.map(\.path) == ["sensors[0].max_current"], "\(error)")
        }
    }

    @Test("lines by chip and offset, as text or as a mapping")
    func chipOffset() throws {
        let profile = try ProfileLoader.decode(
            """
            device: {id: t}
            outputs:
              - {name: a, line: gpiochip1:3}
              - {name: b, line: {chip: gpiochip0, offset: 4}}
            """, file: "t.yml")
        #expect(profile.outputs.map(\.line) == [.chipOffset(chip: "gpiochip1", offset: 3), .chipOffset(chip: "gpiochip0", offset: 4)])
    }

    @Test("several issues are reported together, in file order")
    func severalIssues() {
        do {
            _ = try ProfileLoader.decode("device: {id: t}\noutputs:\n  - {name: a, line: GPIO1, drive: push}\n  - {name: b}\n", file: "t.yml")
            Issue.record("accepted")
        } catch {
            #expect(error.issues.map(\.path) == ["outputs[0].drive", "outputs[1].line"])
        }
    }
}
