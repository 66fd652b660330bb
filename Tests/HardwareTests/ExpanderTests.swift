import Hardware
import Synchronization
import Testing

/// An MCP23017 at the register level (IOCON.BANK = 0): pins that are inputs read what the outside
/// drives, outputs read their latch, and a change on a pin with GPINTEN set pulls INT (a line of a
/// simulated host chip) low until GPIO is read.
final class SimulatedMCP23017: SimulatedI2CDevice {
    private let state = Mutex<(registers: [UInt8], pointer: Int, external: UInt16)>(([UInt8](repeating: 0, count: 0x16), 0, 0))
    private let interrupt: (chip: SimulatedChip, offset: Int)?

    init(interrupt: (chip: SimulatedChip, offset: Int)? = nil) {
        self.interrupt = interrupt
        state.withLock {
            $0.registers[0x00] = 0xFF
            $0.registers[0x01] = 0xFF
        }  // power-on: all inputs
    }

    func register(_ register: Int) -> UInt8 { state.withLock { $0.registers[register] } }

    /// Drives input pins from outside; a watched change raises INT.
    func setPins(_ levels: UInt16) {
        let raise = state.withLock { state -> Bool in
            let changed = (state.external ^ levels) & pair(state, 0x04) & pair(state, 0x00)
            state.external = levels
            return changed != 0
        }
        if raise, let interrupt { interrupt.chip.drive(offset: interrupt.offset, level: false) }
    }

    func write(_ bytes: [UInt8]) throws {
        state.withLock { state in
            state.pointer = Int(bytes[0])
            for byte in bytes.dropFirst() {
                state.registers[state.pointer] = byte
                state.pointer = (state.pointer + 1) % 0x16
            }
        }
    }

    func read(count: Int) throws -> [UInt8] {
        var readGPIO = false
        let bytes = state.withLock { state in
            (0..<count).map { _ -> UInt8 in
                defer { state.pointer = (state.pointer + 1) % 0x16 }
                guard state.pointer == 0x12 || state.pointer == 0x13 else { return state.registers[state.pointer] }
                readGPIO = true
                let port = state.pointer - 0x12
                let inputs = state.registers[port]
                let latch = state.registers[0x14 + port]
                let outside = UInt8(truncatingIfNeeded: state.external >> (8 * port))
                return (outside & inputs) | (latch & ~inputs)
            }
        }
        if readGPIO, let interrupt { interrupt.chip.drive(offset: interrupt.offset, level: nil) }  // reading clears INT
        return bytes
    }

    private func pair(_ state: (registers: [UInt8], pointer: Int, external: UInt16), _ register: Int) -> UInt16 {
        UInt16(state.registers[register]) | UInt16(state.registers[register + 1]) << 8
    }
}

/// A PCF8574: one latch byte; a pin reads low when the latch or the outside pulls it low.
final class SimulatedPCF8574: SimulatedI2CDevice {
    private let state = Mutex<(latch: UInt8, external: UInt8)>((0xFF, 0xFF))
    var latch: UInt8 { state.withLock { $0.latch } }

    func setPins(_ levels: UInt8) { state.withLock { $0.external = levels } }
    func write(_ bytes: [UInt8]) throws { state.withLock { $0.latch = bytes[0] } }
    func read(count: Int) throws -> [UInt8] { state.withLock { [$0.latch & $0.external] } }
}

@Suite("I2C GPIO expanders as chips")
struct ExpanderTests {
    @Test("MCP23017: an output gets its latch before its direction, so it starts at its initial level")
    func mcpOutput() throws {
        let bus = SimulatedI2CBus(number: 1)
        let device = SimulatedMCP23017()
        bus.attach(0x20, device)
        let chip = I2CExpanderChip(model: .mcp23017, bus: bus, address: 0x20)
        #expect(chip.info.name == "mcp23017-1-20")
        let request = try chip.requestLines([3, 9], settings: .output(), initialValues: [true, false], consumer: "test")
        #expect(device.register(0x14) == 0b0000_1000, "OLATA: GPA3 high")
        #expect(device.register(0x00) == 0b1111_0111 && device.register(0x01) == 0b1111_1101, "IODIR: GPA3 and GPB1 outputs")
        let writes = bus.writeLog.map { $0.bytes[0] }
        #expect(writes.firstIndex(of: 0x14)! < writes.firstIndex(of: 0x00)!)
        try request.setValues([false, true])
        #expect(device.register(0x14) == 0 && device.register(0x15) == 0b10)
        #expect(try request.values() == [false, true])
        #expect(
            try chip.lineInfo(offset: 9)
                == GPIOLineInfo(
                    offset: 9, name: "GPB1", consumer: "test", isUsed: true, direction: .output,
                    activeLow: false, bias: .asIs, drive: .pushPull))
        request.release()
        #expect(device.register(0x00) == 0xFF && device.register(0x01) == 0xFF, "released lines are inputs again")
        #expect(try !chip.lineInfo(offset: 9).isUsed)
    }

    @Test("MCP23017: active-low outputs and inputs with pull-ups; a held line is busy")
    func mcpInputs() throws {
        let bus = SimulatedI2CBus(number: 1)
        let device = SimulatedMCP23017()
        bus.attach(0x21, device)
        let chip = I2CExpanderChip(model: .mcp23017, bus: bus, address: 0x21)
        let relay = try chip.requestLines([0], settings: .output(activeLow: true), initialValues: [false], consumer: "relay")
        #expect(device.register(0x14) & 1 == 1, "active-low off drives high")
        let button = try chip.requestLines([8], settings: .input(bias: .pullUp), initialValues: nil, consumer: "button")
        #expect(device.register(0x0D) & 1 == 1, "GPPUB: pull-up on GPB0")
        device.setPins(0x0100)
        #expect(try button.values() == [true])
        device.setPins(0)
        #expect(try button.values() == [false])
        #expect(throws: GPIOError.busy(line: "mcp23017-1-21:0 (GPA0)", heldBy: "relay")) {
            try chip.requestLines([0], settings: .input(), initialValues: nil, consumer: "other")
        }
        relay.release()
        button.release()
    }

    @Test("settings the part cannot do are refused with what to do instead")
    func unsupported() {
        let chip = I2CExpanderChip(model: .mcp23017, bus: SimulatedI2CBus(number: 1), address: 0x20)
        #expect(throws: GPIOError.unsupported(chip: "mcp23017-1-20", detail: "a mcp23017 has no pull-down resistors; wire one, or use pull-up")) {
            try chip.requestLines([1], settings: .input(bias: .pullDown), initialValues: nil, consumer: "t")
        }
        #expect(
            throws: GPIOError.unsupported(
                chip: "mcp23017-1-20",
                detail: "edge detection needs the expander's INT pin wired to a host GPIO line (int=LINE); gpiobridge does not poll")
        ) {
            try chip.requestLines([1], settings: .input(edge: .both), initialValues: nil, consumer: "t")
        }
        #expect(throws: GPIOError.self) { try chip.requestLines([1], settings: .output(drive: .openDrain), initialValues: nil, consumer: "t") }
        #expect(throws: GPIOError.offsetOutOfRange(chip: "mcp23017-1-20", offset: 16, lineCount: 16)) {
            try chip.requestLines([16], settings: .input(), initialValues: nil, consumer: "t")
        }
    }

    @Test("MCP23017: a pin change pulls INT low on a host line; the edge is read from the expander")
    func mcpEdges() async throws {
        let host = SimulatedChip(name: "gpiochip0", lineNames: ["GPIO4"])
        let bus = SimulatedI2CBus(number: 1)
        let device = SimulatedMCP23017(interrupt: (host, 0))
        bus.attach(0x20, device)
        let chip = I2CExpanderChip(model: .mcp23017, bus: bus, address: 0x20, interrupt: (host, 0))
        let request = try chip.requestLines(
            [9], settings: .input(bias: .pullUp, edge: .both, activeLow: true), initialValues: nil,
            consumer: "button")
        device.setPins(0x0200)
        var events = try request.edgeEvents().makeAsyncIterator()
        #expect(try host.lineInfo(offset: 0).consumer == "gpiobridge mcp23017-1-20 INT")
        #expect(device.register(0x05) == 0b10, "GPINTENB: GPB1")
        #expect(device.register(0x0A) & 0x44 == 0x44, "IOCON: MIRROR and ODR")
        device.setPins(0)  // pressed: the pin falls, which is logical 1 (active-low)
        #expect(await events.next()?.rising == true)
        device.setPins(0x0200)
        let released = await events.next()
        #expect(released?.rising == false && released?.offset == 9)
        request.release()
        #expect(try !host.lineInfo(offset: 0).isUsed, "the INT line is released with the last watcher")
        #expect(device.register(0x05) == 0)
    }

    @Test("PCF8574: outputs are latch bits, inputs read against the weak pull-up")
    func pcf() throws {
        let bus = SimulatedI2CBus(number: 0)
        let device = SimulatedPCF8574()
        bus.attach(0x27, device)
        let chip = I2CExpanderChip(model: .pcf8574, bus: bus, address: 0x27)
        let led = try chip.requestLines([2], settings: .output(activeLow: true), initialValues: [true], consumer: "led")
        #expect(device.latch == 0b1111_1011)
        let input = try chip.requestLines([5], settings: .input(), initialValues: nil, consumer: "in")
        device.setPins(0b1101_1111)
        #expect(try input.values() == [false])
        try led.setValues([false])
        #expect(device.latch == 0xFF)
        #expect(throws: GPIOError.self) { try chip.requestLines([6], settings: .input(bias: .disabled), initialValues: nil, consumer: "t") }
        led.release()
        input.release()
    }

    @Test("expander lines resolve by their pin names among all chips")
    func resolution() throws {
        let chips = GPIOChips(chips: [
            SimulatedChip(name: "gpiochip0", lineNames: ["GPIO17", "GPIO27"]),
            I2CExpanderChip(model: .mcp23017, bus: SimulatedI2CBus(number: 1), address: 0x20),
        ])
        let (chip, offset) = try chips.resolve("GPB2")
        #expect(chip.info.name == "mcp23017-1-20" && offset == 10)
        #expect(try chips.resolve("mcp23017-1-20:15").offset == 15)
    }

    @Test("specifications: MODEL@BUS:ADDRESS[,int=LINE]")
    func specifications() throws {
        #expect(
            try ExpanderSpecification(parsing: "mcp23017@1:0x20,int=GPIO4")
                == ExpanderSpecification(model: .mcp23017, bus: 1, address: 0x20, interruptLine: "GPIO4"))
        #expect(try ExpanderSpecification(parsing: "PCF8574@0:39") == ExpanderSpecification(model: .pcf8574, bus: 0, address: 0x27))
        for bad in ["mcp23017", "mcp23008@1:0x20", "mcp23017@x:0x20", "mcp23017@1:0x80", "mcp23017@1:0x20,irq=4"] {
            #expect(throws: GPIOError.invalidExpander(bad)) { try ExpanderSpecification(parsing: bad) }
        }
    }
}
