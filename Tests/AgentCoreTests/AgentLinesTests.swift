import Agent
import Hardware
import Profile
import Testing

@Suite("The agent's lines on a simulated chip: requests, reloads and rollback")
struct AgentLinesTests {
    private let chip = SimulatedChip(name: "gpiochip0", lineNames: (0...27).map { "GPIO\($0)" })

    private func lines(_ yaml: String) throws -> AgentLines {
        try AgentLines(profile: profile(yaml), hardware: AgentHardware(chips: GPIOChips(chips: [chip]), openBus: { _ in SimulatedI2CBus() }))
    }

    private func profile(_ yaml: String) throws -> Profile {
        try ProfileLoader.decode("device: {id: bench}\n" + yaml, file: "test.yml")
    }

    private func held(_ offset: Int) throws -> Bool { try chip.lineInfo(offset: offset).isUsed }

    @Test("a reload keeps an unchanged line's request and level, re-requests a changed one, and releases a removed one")
    func reload() throws {
        let lines = try lines(
            """
            outputs: [{name: kept, line: GPIO5}, {name: changed, line: GPIO6}, {name: removed, line: GPIO7, safe_state: on}]
            inputs: [{name: door, line: GPIO20}]
            """)
        #expect(lines.initialOutputStates == ["kept": false, "changed": false, "removed": false])
        for name in ["kept", "changed"] { try lines.drive(name, on: true) }
        let changes = try lines.reconfigure(
            to: profile(
                """
                outputs: [{name: kept, line: GPIO5}, {name: changed, line: GPIO6, active_low: true}, {name: added, line: GPIO8, initial: on}]
                inputs: [{name: door, line: GPIO20}]
                """), outputStates: ["kept": true, "changed": true, "removed": false])
        #expect(changes.kept == ["door", "kept"])
        #expect(changes.changed == ["changed"])
        #expect(changes.added == ["added"])
        #expect(changes.removed == ["removed"])
        #expect(changes.heldOutputs == ["kept", "changed", "added"])
        #expect(chip.level(offset: 5), "never released, so never back at its initial level")
        #expect(chip.level(offset: 6), "requested afresh, active low, at its initial off")
        #expect(chip.level(offset: 8))
        #expect(try !held(7), "released")
        #expect(chip.level(offset: 7) == false, "a released line shows no drive")
    }

    @Test("a line busy elsewhere refuses the reload with its place in the profile, and every line stays as it was")
    func busyLineRollsBack() throws {
        let lines = try lines("outputs: [{name: lamp, line: GPIO5}, {name: fan, line: GPIO6}]")
        try lines.drive("lamp", on: true)
        let foreign = try chip.requestLines([9], settings: .output(activeLow: false, drive: .pushPull), initialValues: [false], consumer: "someone")
        defer { foreign.release() }
        let new = try profile("outputs: [{name: lamp, line: GPIO5}, {name: fan, line: GPIO6, active_low: true}, {name: pump, line: GPIO9}]")
        #expect {
            _ = try lines.reconfigure(to: new, outputStates: ["lamp": true, "fan": false])
        } throws: { error in
            "\(error)".hasPrefix("test.yml:2:") && "\(error)".contains("outputs[2].line") && "\(error)".contains("someone")
        }
        #expect(try held(5) && held(6))
        #expect(chip.level(offset: 5))
        #expect(chip.level(offset: 6) == false)
        try lines.drive("fan", on: true)
        #expect(chip.level(offset: 6), "fan is still driven with its old settings")
    }

    @Test("outputs that waited for their retained state are requested in order until one fails")
    func restoredOutputs() throws {
        let lines = try lines("outputs: [{name: a, line: GPIO5, initial: restore}, {name: b, line: GPIO6, initial: restore}]")
        #expect(lines.initialOutputStates.isEmpty)
        #expect(try !held(5))
        let foreign = try chip.requestLines([6], settings: .output(activeLow: false, drive: .pushPull), initialValues: [false], consumer: "someone")
        defer { foreign.release() }
        let (requested, failure) = lines.request([.init(output: "a", on: true), .init(output: "b", on: false)])
        #expect(requested == [.init(output: "a", on: true)])
        #expect(failure?.contains("someone") == true)
        #expect(chip.level(offset: 5))
    }

    @Test("two names for one line stop the start, each located")
    func oneLineTwice() throws {
        #expect {
            _ = try lines("outputs: [{name: a, line: GPIO5}, {name: b, line: gpiochip0:5}]")
        } throws: { error in
            "\(error)".contains("outputs[1].line: gpiochip0:5 is gpiochip0:5, which outputs[0] already uses")
        }
        #expect(try !held(5), "nothing stays requested")
    }
}
