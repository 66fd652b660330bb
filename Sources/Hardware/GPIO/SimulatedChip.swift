import Synchronization

/// An in-process GPIO chip for unit tests and the demo: outputs can be observed and inputs driven
/// from outside, with the same request, busy and edge-event semantics as a kernel chip.
public final class SimulatedChip: GPIOChip {
    public let info: GPIOChipInfo
    private let state: Mutex<State>
    private let clock = ContinuousClock()
    private let epoch = ContinuousClock.now

    struct Line {
        var name: String
        var consumer: String?
        var settings: LineSettings?
        /// The level something outside drives onto the line, or nil when nothing does.
        var externalLevel: Bool?
        /// The level an output drives (physical, after active-low).
        var drivenLevel = false
        var edgeSink: (request: ObjectIdentifier, sink: EdgeSink)?
    }

    struct State {
        var lines: [Line]
    }

    /// - Parameter lineNames: one entry per line; an empty string leaves the line unnamed.
    public init(name: String, label: String = "gpiobridge-simulated", lineNames: [String]) {
        self.info = GPIOChipInfo(name: name, label: label, lineCount: lineNames.count, path: "simulated:\(name)")
        self.state = Mutex(State(lines: lineNames.map { Line(name: $0) }))
    }

    public func lineInfo(offset: Int) throws -> GPIOLineInfo {
        try checkOffsets([offset])
        return state.withLock { state in
            let line = state.lines[offset]
            return GPIOLineInfo(
                offset: offset, name: line.name, consumer: line.consumer ?? "", isUsed: line.consumer != nil,
                direction: line.settings?.direction ?? .input, activeLow: line.settings?.activeLow ?? false,
                bias: line.settings?.bias ?? .asIs, drive: line.settings?.drive ?? .pushPull)
        }
    }

    public func requestLines(_ offsets: [Int], settings: LineSettings, initialValues: [Bool]?, consumer: String) throws
        -> any LineRequest
    {
        try checkOffsets(offsets)
        let request = SimulatedLineRequest(chip: self, offsets: offsets, settings: settings)
        try state.withLock { state in
            for offset in offsets {
                if let holder = state.lines[offset].consumer {
                    let line = state.lines[offset]
                    throw GPIOError.busy(
                        line: line.name.isEmpty ? "\(info.name):\(offset)" : "\(info.name):\(offset) (\(line.name))",
                        heldBy: holder)
                }
            }
            for (index, offset) in offsets.enumerated() {
                state.lines[offset].consumer = consumer
                state.lines[offset].settings = settings
                if settings.direction == .output {
                    let logical = initialValues?[index] ?? false
                    state.lines[offset].drivenLevel = logical != settings.activeLow
                }
            }
        }
        return request
    }

    // MARK: The outside world

    /// The physical level on the line: what an output drives, else what is driven from outside,
    /// else the pull of the request (low when there is none).
    public func level(offset: Int) -> Bool {
        state.withLock { Self.level(of: $0.lines[offset]) }
    }

    /// Drives an input from outside (a button, a sensor): edges reach a request watching the line.
    public func drive(offset: Int, level: Bool?) {
        let event: (EdgeSink, EdgeEvent)? = state.withLock { state in
            let before = Self.level(of: state.lines[offset])
            state.lines[offset].externalLevel = level
            let after = Self.level(of: state.lines[offset])
            let line = state.lines[offset]
            guard before != after, let sink = line.edgeSink, let settings = line.settings else { return nil }
            // Edges are reported in logical terms: active-low swaps rising and falling.
            let rising = after != settings.activeLow
            switch settings.edge {
            case .none: return nil
            case .rising where !rising: return nil
            case .falling where rising: return nil
            default: break
            }
            let elapsed = clock.now - epoch
            let nanoseconds = UInt64(elapsed.components.seconds) * 1_000_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000)
            return (sink.sink, EdgeEvent(offset: offset, rising: rising, timestampNanoseconds: nanoseconds))
        }
        if let (sink, edge) = event { sink.edge(edge) }
    }

    private static func level(of line: Line) -> Bool {
        if line.settings?.direction == .output { return line.drivenLevel }
        if let external = line.externalLevel { return external }
        return line.settings?.bias == .pullUp
    }

    private func checkOffsets(_ offsets: [Int]) throws {
        for offset in offsets where !(0..<info.lineCount).contains(offset) {
            throw GPIOError.offsetOutOfRange(chip: info.name, offset: offset, lineCount: info.lineCount)
        }
    }

    // MARK: Used by SimulatedLineRequest

    fileprivate func set(_ offsets: [Int], _ values: [Bool]) throws {
        state.withLock { state in
            for (offset, value) in zip(offsets, values) where state.lines[offset].settings?.direction == .output {
                state.lines[offset].drivenLevel = value != (state.lines[offset].settings?.activeLow ?? false)
            }
        }
    }

    fileprivate func get(_ offsets: [Int]) -> [Bool] {
        state.withLock { state in
            offsets.map { Self.level(of: state.lines[$0]) != (state.lines[$0].settings?.activeLow ?? false) }
        }
    }

    fileprivate func watch(_ offsets: [Int], request: ObjectIdentifier, sink: EdgeSink) throws {
        try state.withLock { state in
            guard offsets.allSatisfy({ state.lines[$0].edgeSink == nil }) else {
                throw GPIOError.system(operation: "watching edges", errno: 16, message: "the lines are watched already")
            }
            for offset in offsets { state.lines[offset].edgeSink = (request, sink) }
        }
    }

    fileprivate func release(_ offsets: [Int], request: ObjectIdentifier) {
        let sinks = state.withLock { state -> [EdgeSink] in
            var finished: [EdgeSink] = []
            for offset in offsets {
                // One sink serves all of a request's lines: it ends once.
                if let sink = state.lines[offset].edgeSink, sink.request == request, finished.isEmpty { finished.append(sink.sink) }
                state.lines[offset].edgeSink = nil
                state.lines[offset].consumer = nil
                state.lines[offset].settings = nil
            }
            return finished
        }
        for sink in sinks { sink.ended() }
    }
}

final class SimulatedLineRequest: LineRequest {
    private let owner: SimulatedChip
    let offsets: [Int]
    let settings: LineSettings
    private let lifetime = ReleaseState()

    var chip: GPIOChipInfo { owner.info }

    init(chip: SimulatedChip, offsets: [Int], settings: LineSettings) {
        self.owner = chip
        self.offsets = offsets
        self.settings = settings
    }

    deinit {
        release()
    }

    func setValues(_ values: [Bool]) throws {
        try ensureHeld()
        try owner.set(offsets, values)
    }

    func values() throws -> [Bool] {
        try ensureHeld()
        return owner.get(offsets)
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
