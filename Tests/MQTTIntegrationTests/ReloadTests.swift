import Agent
import Hardware
import MQTT
import Profile
import Testing

private let before = """
    device: {id: bench}
    outputs:
      - {name: lamp, line: GPIO17}
      - {name: fan, line: GPIO27}
      - {name: pump, line: GPIO22}
    inputs:
      - {name: button, line: GPIO5, bias: pull-up}
    """

@Suite("Reloading a running agent", .needsMosquitto)
struct ReloadTests {
    @Test("unchanged lines keep their state without a glitch; removed lines go safe and are released; new ones start")
    func reload() async throws {
        let after = """
            device: {id: bench}
            outputs:
              - {name: lamp, line: GPIO17}
              - {name: fan, line: GPIO27, active_low: true}
              - {name: heater, line: GPIO6, initial: on}
            inputs:
              - {name: button, line: GPIO5, bias: pull-up}
            """
        try await withMosquitto { broker in
            try await withAgent(before, broker: broker) { rig in
                for output in ["lamp", "fan", "pump"] {
                    try await rig.publish("gpiobridge/bench/\(output)/set", "ON")
                    try await rig.expectMessage("gpiobridge/bench/\(output)", "ON")
                }
                let seen = rig.inbox.messages.count
                let result = try await rig.reload(after)
                #expect(try result.get() == "lines: 2 kept, 1 added, 1 changed, 1 removed")
                #expect(try rig.level("GPIO17"), "lamp kept its line and its state")
                #expect(!rig.payloads("gpiobridge/bench/lamp").dropFirst(2).contains("OFF"), "no glitch was published for lamp")
                #expect(try !rig.chip.lineInfo(offset: 22).isUsed && !rig.level("GPIO22"), "pump went off and was released")
                #expect(try rig.chip.lineInfo(offset: 6).isUsed && rig.level("GPIO6"), "heater started on")
                #expect(try rig.level("GPIO27"), "fan changed to active-low and starts at its initial off, which is high")
                try await rig.expectMessage("gpiobridge/bench/heater", "ON", after: seen)
                // The new command topic works, the removed one does nothing; the connection stayed.
                try await rig.publish("gpiobridge/bench/heater/set", "OFF")
                try await rig.expectMessage("gpiobridge/bench/heater", "OFF", after: seen)
                #expect(
                    !rig.inbox.messages.dropFirst(seen).contains { $0.topic == "gpiobridge/bench/status" },
                    "no reconnect: online was not announced again")
                // The input kept watching.
                let pressed = rig.inbox.messages.count
                try rig.drive("GPIO5", false)
                try await rig.expectMessage("gpiobridge/bench/button", "OFF", after: pressed)
            }
        }
    }

    @Test("a new profile with a busy line is refused with its location, and the old profile keeps running")
    func busyLine() async throws {
        try await withMosquitto { broker in
            try await withAgent(before, broker: broker) { rig in
                let other = try rig.chip.requestLines([9], settings: .output(), initialValues: [false], consumer: "other-tool")
                defer { other.release() }
                let withBusy = """
                    device: {id: bench}
                    outputs:
                      - {name: lamp, line: GPIO17}
                      - {name: extra, line: GPIO9}
                    inputs:
                      - {name: button, line: GPIO5, bias: pull-up}
                    """
                switch try await rig.reload(withBusy) {
                case .success(let summary):
                    Issue.record("accepted: \(summary)")
                case .failure(let error):
                    #expect(error.description == #"reloaded.yml:4:25: outputs[1].line: line gpiochip0:9 (GPIO9) is busy, held by "other-tool""#)
                }
                #expect(try rig.chip.lineInfo(offset: 22).isUsed, "pump is still held: the old profile runs")
                try await rig.publish("gpiobridge/bench/pump/set", "ON")
                try await rig.expectMessage("gpiobridge/bench/pump", "ON")
            }
        }
    }

    @Test("a changed broker or device is refused: those need a restart")
    func brokerChange() async throws {
        try await withMosquitto { broker in
            try await withAgent(before, broker: broker) { rig in
                guard case .failure(let error) = try await rig.reload(before.replacingOccurrences(of: "id: bench", with: "id: shed")) else {
                    Issue.record("a device change was accepted")
                    return
                }
                #expect(error.description.contains("restart the agent"))
                guard case .failure = try await rig.reload("broker: {host: elsewhere}\n" + before) else {
                    Issue.record("a broker change was accepted")
                    return
                }
            }
        }
    }
}
