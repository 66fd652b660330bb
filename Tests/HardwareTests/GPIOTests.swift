import Hardware
import Testing

private func chips() -> (GPIOChips, SimulatedChip, SimulatedChip) {
    let first = SimulatedChip(name: "gpiochip0", label: "pinctrl-sim", lineNames: ["GPIO17", "GPIO27", "", "DUP"])
    let second = SimulatedChip(name: "gpiochip1", label: "expander", lineNames: ["DUP", "LED"])
    return (GPIOChips(chips: [first, second]), first, second)
}

@Suite("Naming lines across chips")
struct LineResolutionTests {
    @Test("a line is found by name, by chip:offset, by chip number, path or label")
    func resolves() throws {
        let (system, first, second) = chips()
        for (specification, chip, offset) in [
            ("GPIO27", first, 1), ("LED", second, 1), ("gpiochip0:2", first, 2),
            ("1:0", second, 0), ("simulated:gpiochip1:1", second, 1), ("expander:0", second, 0),
        ] {
            let resolved = try system.resolve(specification)
            #expect(resolved.chip === chip, "\(specification)")
            #expect(resolved.offset == offset, "\(specification)")
        }
    }

    @Test("unknown, ambiguous, out-of-range and malformed names say what exists")
    func errors() {
        let (system, _, _) = chips()
        #expect(throws: GPIOError.lineNotFound("GPIO99", available: ["GPIO17", "GPIO27", "DUP", "DUP", "LED"])) {
            try system.resolve("GPIO99")
        }
        #expect(throws: GPIOError.ambiguousLineName("DUP", matches: ["gpiochip0:3", "gpiochip1:0"])) { try system.resolve("DUP") }
        #expect(throws: GPIOError.offsetOutOfRange(chip: "gpiochip1", offset: 5, lineCount: 2)) { try system.resolve("gpiochip1:5") }
        #expect(throws: GPIOError.chipNotFound("gpiochip9", available: ["gpiochip0 [pinctrl-sim]", "gpiochip1 [expander]"])) {
            try system.resolve("gpiochip9:3")
        }
        #expect(throws: GPIOError.invalidLineSpecification("gpiochip0:x")) { try system.resolve("gpiochip0:x") }
        #expect(throws: GPIOError.noChips) { try GPIOChips(chips: []).resolve("GPIO17") }
        #expect(
            "\(GPIOError.chipNotFound("gpiochip9", available: []))"
                == "GPIO chip gpiochip9 does not exist: this machine has no GPIO chips")
    }

    @Test("the chip devices are listed in numeric order, and none is fine")
    func chipPaths() {
        #expect(GPIOChips.chipPaths(devicePrefix: "/nonexistent/gpiochip").isEmpty)
    }
}

@Suite("The simulated chip behaves like a kernel chip")
struct SimulatedChipTests {
    @Test("outputs drive their level, active-low inverts it, and the value reads back")
    func outputs() throws {
        let chip = SimulatedChip(name: "sim", lineNames: ["A", "B"])
        let plain = try chip.requestLines([0], settings: .output(), initialValues: [true], consumer: "test")
        let inverted = try chip.requestLines([1], settings: .output(activeLow: true), initialValues: [true], consumer: "test")
        #expect(chip.level(offset: 0) == true)
        #expect(chip.level(offset: 1) == false)
        try inverted.setValues([false])
        #expect(chip.level(offset: 1) == true)
        #expect(try inverted.values() == [false])
        #expect(try plain.values() == [true])
    }

    @Test("a held line is busy and names its holder; release frees it exactly once")
    func busyAndRelease() throws {
        let chip = SimulatedChip(name: "sim", lineNames: ["RELAY"])
        let first = try chip.requestLines([0], settings: .output(), initialValues: nil, consumer: "agent")
        #expect(try chip.lineInfo(offset: 0).consumer == "agent")
        #expect(throws: GPIOError.busy(line: "sim:0 (RELAY)", heldBy: "agent")) {
            try chip.requestLines([0], settings: .input(), initialValues: nil, consumer: "other")
        }
        first.release()
        first.release()
        #expect(throws: GPIOError.self) { try first.values() }
        let second = try chip.requestLines([0], settings: .input(), initialValues: nil, consumer: "other")
        // The first request's second release must not free the line the second request holds.
        first.release()
        #expect(try chip.lineInfo(offset: 0).consumer == "other")
        second.release()
        #expect(try chip.lineInfo(offset: 0).isUsed == false)
    }

    @Test("a request dropped without release gives its lines back")
    func dropReleases() throws {
        let chip = SimulatedChip(name: "sim", lineNames: ["X"])
        do {
            _ = try chip.requestLines([0], settings: .output(), initialValues: nil, consumer: "scoped")
        }
        #expect(try chip.lineInfo(offset: 0).isUsed == false)
    }

    @Test("inputs read the pull or what drives them, and raise the edges asked for")
    func inputsAndEdges() async throws {
        let chip = SimulatedChip(name: "sim", lineNames: ["BUTTON", "DOOR"])
        let button = try chip.requestLines(
            [0], settings: .input(bias: .pullUp, edge: .both, activeLow: true),
            initialValues: nil, consumer: "test")
        let door = try chip.requestLines([1], settings: .input(edge: .rising), initialValues: nil, consumer: "test")
        #expect(try button.values() == [false], "pulled up and active-low reads 0")
        let buttonEvents = try button.edgeEvents()
        let doorEvents = try door.edgeEvents()
        chip.drive(offset: 0, level: false)  // pressed: the line goes low, logically rising
        chip.drive(offset: 0, level: nil)  // released: back to the pull-up
        chip.drive(offset: 1, level: true)
        chip.drive(offset: 1, level: false)  // a falling edge, not asked for
        chip.drive(offset: 1, level: true)
        button.release()
        door.release()
        var buttonSeen: [Bool] = []
        for await event in buttonEvents { buttonSeen.append(event.rising) }
        var doorSeen: [Bool] = []
        for await event in doorEvents { doorSeen.append(event.rising) }
        #expect(buttonSeen == [true, false])
        #expect(doorSeen == [true, true])
    }
}
