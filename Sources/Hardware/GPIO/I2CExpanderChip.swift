import Synchronization

/// The I²C GPIO expanders gpiobridge drives as GPIO chips.
public enum ExpanderModel: String, Sendable, Hashable, CaseIterable {
    /// NXP PCF8574: 8 quasi-bidirectional pins (a weak pull-up, or driven low).
    case pcf8574
    /// Microchip MCP23017: 16 pins in two ports, with pull-ups and interrupt-on-change.
    case mcp23017

    public var lineCount: Int { self == .pcf8574 ? 8 : 16 }

    /// The datasheet's pin names, which become the line names.
    var lineNames: [String] {
        self == .pcf8574 ? (0..<8).map { "P\($0)" } : (0..<8).map { "GPA\($0)" } + (0..<8).map { "GPB\($0)" }
    }
}

/// Where an expander sits, written `MODEL@BUS:ADDRESS[,int=LINE]`, such as `mcp23017@1:0x20,int=GPIO4`:
/// LINE is the host GPIO line wired to the expander's INT output, which edge detection needs.
public struct ExpanderSpecification: Sendable, Hashable {
    public var model: ExpanderModel
    public var bus: Int
    public var address: UInt8
    public var interruptLine: String?

    public init(model: ExpanderModel, bus: Int, address: UInt8, interruptLine: String? = nil) {
        self.model = model
        self.bus = bus
        self.address = address
        self.interruptLine = interruptLine
    }

    /// Parses `MODEL@BUS:ADDRESS[,int=LINE]`.
    public init(parsing text: String) throws {
        let invalid = GPIOError.invalidExpander(text)
        var parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let location = parts.removeFirst()
        guard let at = location.firstIndex(of: "@"), let colon = location.lastIndex(of: ":"), at < colon,
            let model = ExpanderModel(rawValue: location[..<at].lowercased()),
            let bus = Int(location[location.index(after: at)..<colon]), bus >= 0
        else { throw invalid }
        let addressText = location[location.index(after: colon)...].lowercased()
        guard let address = addressText.hasPrefix("0x") ? Int(addressText.dropFirst(2), radix: 16) : Int(addressText),
            (0x03...0x77).contains(address)
        else { throw invalid }
        var interruptLine: String?
        for option in parts {
            guard option.hasPrefix("int="), option.count > 4 else { throw invalid }
            interruptLine = String(option.dropFirst(4))
        }
        self.init(model: model, bus: bus, address: UInt8(address), interruptLine: interruptLine)
    }

    /// The chip's name: `mcp23017-1-20` for an MCP23017 at 0x20 on bus 1.
    public var chipName: String { "\(model.rawValue)-\(bus)-\(hexByte(address).dropFirst(2))" }
}

/// A PCF8574 or MCP23017 on an I²C bus, as a GPIO chip beside the kernel's. Lines are requested,
/// set, read and watched as on a kernel chip; active-low is applied here. Edges come from the
/// expander's INT output on a host GPIO line: a change raises INT, and the pins are read then.
/// Nothing polls.
public final class I2CExpanderChip: GPIOChip {
    public let info: GPIOChipInfo
    public let model: ExpanderModel
    private let bus: any I2CBus
    private let address: UInt8
    private let interrupt: (chip: any GPIOChip, offset: Int)?
    private let state = Mutex(State())

    struct State {
        var loaded = false
        /// Bits set for inputs (MCP23017 IODIR; a PCF8574 input is a latch bit at 1).
        var inputs: UInt16 = 0xFFFF
        /// The output latch, physical levels.
        var latch: UInt16 = 0xFFFF
        var pullUps: UInt16 = 0
        var holders: [Int: (consumer: String, settings: LineSettings)] = [:]
        var sinks: [Int: (request: ObjectIdentifier, sink: EdgeSink)] = [:]
        var lastPins: UInt16 = 0
        var interruptRequest: (any LineRequest)?
    }

    /// An expander at `address` on `bus`; `interrupt` is the host line wired to its INT output.
    public init(model: ExpanderModel, bus: any I2CBus, address: UInt8, interrupt: (chip: any GPIOChip, offset: Int)? = nil) {
        let specification = ExpanderSpecification(model: model, bus: bus.number, address: address)
        self.info = GPIOChipInfo(
            name: specification.chipName, label: model.rawValue, lineCount: model.lineCount,
            path: "i2c-\(bus.number):\(hexByte(address))")
        self.model = model
        self.bus = bus
        self.address = address
        self.interrupt = interrupt
    }

    public func lineInfo(offset: Int) throws -> GPIOLineInfo {
        try checkOffsets([offset])
        return state.withLock { state in
            let holder = state.holders[offset]
            return GPIOLineInfo(
                offset: offset, name: model.lineNames[offset], consumer: holder?.consumer ?? "", isUsed: holder != nil,
                direction: state.inputs & bit(offset) != 0 ? .input : .output, activeLow: holder?.settings.activeLow ?? false,
                bias: holder?.settings.bias ?? .asIs, drive: holder?.settings.drive ?? .pushPull)
        }
    }

    public func requestLines(_ offsets: [Int], settings: LineSettings, initialValues: [Bool]?, consumer: String) throws
        -> any LineRequest
    {
        try checkOffsets(offsets)
        try checkSupported(settings)
        try state.withLock { state in
            for offset in offsets {
                if let holder = state.holders[offset] {
                    throw GPIOError.busy(line: "\(info.name):\(offset) (\(model.lineNames[offset]))", heldBy: holder.consumer)
                }
            }
            try load(&state)
            var mask: UInt16 = 0
            for (index, offset) in offsets.enumerated() {
                mask |= bit(offset)
                if settings.direction == .output {
                    let physical = (initialValues?[index] ?? false) != settings.activeLow
                    state.latch = physical ? state.latch | bit(offset) : state.latch & ~bit(offset)
                }
                if settings.direction == .input && settings.bias != .asIs {
                    state.pullUps = settings.bias == .pullUp ? state.pullUps | bit(offset) : state.pullUps & ~bit(offset)
                }
            }
            state.inputs = settings.direction == .input ? state.inputs | mask : state.inputs & ~mask
            switch model {
            case .pcf8574:
                // An input is a latch bit at 1: the weak pull-up the pin is read against.
                if settings.direction == .input { state.latch |= mask }
                try bus.writeByte(address, UInt8(state.latch & 0xFF))
            case .mcp23017:
                // The latch before the direction, so an output starts at its initial level.
                if settings.direction == .output { try writePair(0x14, state.latch) }
                if settings.direction == .input && settings.bias != .asIs { try writePair(0x0C, state.pullUps) }
                try writePair(0x00, state.inputs)
            }
            for offset in offsets { state.holders[offset] = (consumer, settings) }
        }
        return ExpanderLineRequest(chip: self, offsets: offsets, settings: settings)
    }

    private func checkOffsets(_ offsets: [Int]) throws {
        for offset in offsets where !(0..<info.lineCount).contains(offset) {
            throw GPIOError.offsetOutOfRange(chip: info.name, offset: offset, lineCount: info.lineCount)
        }
    }

    private func checkSupported(_ settings: LineSettings) throws {
        func refuse(_ detail: String) -> GPIOError { GPIOError.unsupported(chip: info.name, detail: detail) }
        if settings.bias == .pullDown { throw refuse("a \(model.rawValue) has no pull-down resistors; wire one, or use pull-up") }
        switch model {
        case .pcf8574:
            if settings.drive == .openSource { throw refuse("a pcf8574 cannot drive open-source") }
            if settings.direction == .input && settings.bias == .disabled {
                throw refuse("pcf8574 inputs always have their weak pull-up; use bias pull-up or as-is")
            }
        case .mcp23017:
            if settings.drive != .pushPull { throw refuse("mcp23017 outputs are push-pull only") }
        }
        if settings.debounceMicroseconds > 0 {
            throw refuse("debounce is not available on expander lines; filter with an RC network or use a host GPIO line")
        }
        if settings.edge != .none && interrupt == nil {
            throw refuse("edge detection needs the expander's INT pin wired to a host GPIO line (int=LINE); gpiobridge does not poll")
        }
    }

    // MARK: Registers

    private func bit(_ offset: Int) -> UInt16 { 1 << UInt16(offset) }

    /// Reads the expander's configuration once: the MCP23017's registers survive our restarts.
    /// A PCF8574 cannot report its latch; it starts at its power-on state, all high.
    private func load(_ state: inout State) throws {
        guard !state.loaded else { return }
        if model == .mcp23017 {
            state.inputs = try readPair(0x00)
            state.pullUps = try readPair(0x0C)
            state.latch = try readPair(0x14)
        } else {
            state.inputs = 0xFF
            state.latch = 0xFF
        }
        state.loaded = true
    }

    /// MCP23017 registers come in A/B pairs at adjacent addresses (IOCON.BANK = 0).
    private func readPair(_ register: UInt8) throws -> UInt16 {
        let bytes = try bus.readI2CBlock(address, register: register, count: 2)
        return UInt16(bytes[0]) | UInt16(bytes[1]) << 8
    }

    private func writePair(_ register: UInt8, _ value: UInt16) throws {
        try bus.writeI2CBlock(address, register: register, [UInt8(value & 0xFF), UInt8(value >> 8)])
    }

    private func readPins() throws -> UInt16 {
        model == .mcp23017 ? try readPair(0x12) : UInt16(try bus.readByte(address))
    }

    // MARK: Used by ExpanderLineRequest

    fileprivate func set(_ offsets: [Int], _ values: [Bool], activeLow: Bool) throws {
        try state.withLock { state in
            for (offset, value) in zip(offsets, values) {
                state.latch = value != activeLow ? state.latch | bit(offset) : state.latch & ~bit(offset)
            }
            if model == .mcp23017 { try writePair(0x14, state.latch) } else { try bus.writeByte(address, UInt8(state.latch & 0xFF)) }
        }
    }

    fileprivate func get(_ offsets: [Int], activeLow: Bool) throws -> [Bool] {
        let pins = try state.withLock { _ in try readPins() }
        return offsets.map { (pins & bit($0) != 0) != activeLow }
    }

    fileprivate func watch(_ offsets: [Int], request: ObjectIdentifier, sink: EdgeSink) throws {
        guard let interrupt else {
            throw GPIOError.unsupported(chip: info.name, detail: "edge detection needs the expander's INT pin wired to a host GPIO line (int=LINE)")
        }
        try state.withLock { state in
            guard offsets.allSatisfy({ state.sinks[$0] == nil }) else {
                throw GPIOError.system(operation: "watching edges", errno: 16, message: "the lines are watched already")
            }
            if state.interruptRequest == nil {
                // INT is active-low and, on the MCP23017, set to open-drain below: pull it up.
                let request = try interrupt.chip.requestLines(
                    [interrupt.offset], settings: .input(bias: .pullUp, edge: .falling), initialValues: nil,
                    consumer: "\(gpiobridgeConsumer) \(info.name) INT")
                // The pins are read on the INT line's watching thread, as each interrupt comes.
                try request.watchEdges(EdgeSink(edge: { [weak self] event in self?.interruptRaised(at: event.timestampNanoseconds) }))
                state.interruptRequest = request
            }
            for offset in offsets { state.sinks[offset] = (request, sink) }
            if model == .mcp23017 {
                let watched = state.sinks.keys.reduce(UInt16(0)) { $0 | bit($1) }
                let configuration = try bus.readByteData(address, register: 0x0A)
                try bus.writeByteData(address, register: 0x0A, configuration | 0x44)  // MIRROR: one INT for both ports; ODR
                try writePair(0x08, 0)  // interrupt on any change, not against DEFVAL
                try writePair(0x04, watched)  // GPINTEN
            }
            // Reading the pins also clears an interrupt that was already pending.
            state.lastPins = try readPins()
        }
    }

    private func interruptRaised(at timestamp: UInt64) {
        let deliveries: [(EdgeSink, EdgeEvent)] = state.withLock { state in
            guard let pins = try? readPins() else { return [] }
            let changed = pins ^ state.lastPins
            state.lastPins = pins
            return state.sinks.keys.sorted().compactMap { offset in
                guard changed & bit(offset) != 0, let sink = state.sinks[offset], let settings = state.holders[offset]?.settings
                else { return nil }
                let rising = (pins & bit(offset) != 0) != settings.activeLow
                switch settings.edge {
                case .none: return nil
                case .rising where !rising, .falling where rising: return nil
                default: return (sink.sink, EdgeEvent(offset: offset, rising: rising, timestampNanoseconds: timestamp))
                }
            }
        }
        for (sink, event) in deliveries { sink.edge(event) }
    }

    fileprivate func release(_ offsets: [Int], request: ObjectIdentifier) {
        typealias Released = (finished: [EdgeSink], interrupt: (any LineRequest)?)
        let released: Released = state.withLock { state -> Released in
            var finished: [EdgeSink] = []
            var mask: UInt16 = 0
            for offset in offsets {
                // One sink serves all of a request's lines: it ends once.
                if let sink = state.sinks[offset], sink.request == request, finished.isEmpty { finished.append(sink.sink) }
                state.sinks[offset] = nil
                state.holders[offset] = nil
                mask |= bit(offset)
            }
            // Released lines return to the power-on state: inputs, high impedance or weak pull-up.
            state.inputs |= mask
            if model == .mcp23017 {
                try? writePair(0x04, state.sinks.keys.reduce(UInt16(0)) { $0 | bit($1) })
                try? writePair(0x00, state.inputs)
            } else {
                state.latch |= mask
                try? bus.writeByte(address, UInt8(state.latch & 0xFF))
            }
            guard state.sinks.isEmpty else { return (finished, nil) }
            defer { state.interruptRequest = nil }
            return (finished, state.interruptRequest)
        }
        for sink in released.finished { sink.ended() }
        released.interrupt?.release()
    }
}

final class ExpanderLineRequest: LineRequest {
    private let owner: I2CExpanderChip
    let offsets: [Int]
    let settings: LineSettings
    private let lifetime = ReleaseState()

    var chip: GPIOChipInfo { owner.info }

    init(chip: I2CExpanderChip, offsets: [Int], settings: LineSettings) {
        self.owner = chip
        self.offsets = offsets
        self.settings = settings
    }

    deinit {
        release()
    }

    func setValues(_ values: [Bool]) throws {
        try ensureHeld()
        guard settings.direction == .output else {
            throw GPIOError.unsupported(chip: owner.info.name, detail: "lines \(offsets) are inputs and cannot be set")
        }
        try owner.set(offsets, values, activeLow: settings.activeLow)
    }

    func values() throws -> [Bool] {
        try ensureHeld()
        return try owner.get(offsets, activeLow: settings.activeLow)
    }

    func watchEdges(_ sink: EdgeSink) throws {
        try ensureHeld()
        guard settings.direction == .input, settings.edge != .none else {
            throw GPIOError.system(operation: "watching edges", errno: 22, message: "the lines were not requested with edge detection")
        }
        try owner.watch(offsets, request: ObjectIdentifier(self), sink: sink)
    }

    func release() {
        if lifetime.claim() { owner.release(offsets, request: ObjectIdentifier(self)) }
    }

    private func ensureHeld() throws {
        try lifetime.ensureHeld(offsets, of: owner.info.name)
    }
}
