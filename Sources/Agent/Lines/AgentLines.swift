import Hardware
import Logging
import Profile
import Scheme

/// The agent's GPIO lines: found on the chips, requested, driven, read and given back. The only
/// line I/O of the agent; the logic deciding what to drive is ``AgentCore``'s.
public final class AgentLines {
    private(set) var profile: Profile
    private let hardware: AgentHardware
    private var outputLines: [String: any LineRequest] = [:]
    private var inputLines: [String: any LineRequest] = [:]
    private var resolved: [String: Line] = [:]
    /// The outputs held at start and the levels they were requested at (outputs restoring their
    /// retained state are not requested yet).
    public private(set) var initialOutputStates: [String: Bool] = [:]
    /// The inputs' levels as first read.
    public private(set) var initialInputLevels: [String: Bool] = [:]

    /// A line as found on a chip, with the settings it was requested with.
    struct Line {
        var chip: any GPIOChip
        var offset: Int
        var settings: LineSettings

        /// `gpiochip0:17`: two references to one physical line have the same key.
        var key: String { "\(chip.info.name):\(offset)" }
    }

    /// Finds every line and requests them: outputs at their initial state (those restoring their
    /// retained state wait), inputs with their bias, edges and debounce. Any failure releases
    /// what was requested and throws, naming the profile setting.
    public init(profile: Profile, hardware: AgentHardware) throws {
        self.profile = profile
        self.hardware = hardware
        resolved = try Self.resolve(profile, hardware)
        do {
            for output in profile.outputs where output.initial != .restore {
                initialOutputStates[output.name] = output.initial == .on
                outputLines[output.name] = try request(output, on: output.initial == .on)
            }
            for input in profile.inputs {
                try requestInput(input)
                initialInputLevels[input.name] = try inputLines[input.name]!.values()[0]
            }
        } catch {
            releaseAll()
            throw error
        }
    }

    /// Sets an output's line to a logical level.
    public func drive(_ output: String, on: Bool) throws {
        guard let line = outputLines[output] else { throw CommandError("\(output) has no line yet") }
        try line.setValues([on])
    }

    /// Hands a held input's edges to `sink`, from the thread that watches the line.
    public func watchEdges(of input: String, _ sink: EdgeSink) throws {
        guard let line = inputLines[input] else { throw CommandError("\(input) has no line") }
        try line.watchEdges(sink)
    }

    /// Requests the outputs that waited for their retained state, in order, until one fails.
    public func request(_ requests: [AgentCore.OutputRequest]) -> (requested: [AgentCore.OutputRequest], failure: String?) {
        var done: [AgentCore.OutputRequest] = []
        for item in requests {
            guard let output = profile.outputs.first(where: { $0.name == item.output }), outputLines[item.output] == nil else { continue }
            do {
                outputLines[item.output] = try request(output, on: item.on)
                done.append(item)
            } catch {
                return (done, "\(error)")
            }
        }
        return (done, nil)
    }

    /// Every output and input line of `profile`, found on the chips; two names for one line are refused.
    private static func resolve(_ profile: Profile, _ hardware: AgentHardware) throws -> [String: Line] {
        var problems: [String] = []
        var resolved: [String: Line] = [:]
        var owners: [String: String] = [:]
        let lines =
            profile.outputs.map { ($0.name, $0.line, $0.origin, LineSettings.output(activeLow: $0.activeLow, drive: $0.drive)) }
            + profile.inputs.map {
                (
                    $0.name, $0.line, $0.origin,
                    LineSettings.input(
                        bias: $0.bias, edge: $0.edge, activeLow: $0.activeLow,
                        debounceMicroseconds: UInt32($0.debounceMilliseconds * 1000))
                )
            }
        for (name, reference, origin, settings) in lines {
            do {
                let found = try hardware.chips.resolve(reference.description)
                let line = Line(chip: found.chip, offset: found.offset, settings: settings)
                if let owner = owners[line.key] {
                    problems.append(locate(profile, origin, "line", "\(reference) is \(line.key), which \(owner) already uses"))
                }
                owners[line.key] = origin.path
                resolved[name] = line
            } catch {
                problems.append(locate(profile, origin, "line", "\(error)"))
            }
        }
        guard problems.isEmpty else { throw AgentStartError(problems: problems) }
        return resolved
    }

    private func request(_ output: OutputSettings, on: Bool) throws -> any LineRequest {
        let line = resolved[output.name]!
        return try Self.located(profile, output.origin) {
            try line.chip.requestLines([line.offset], settings: line.settings, initialValues: [on], consumer: gpiobridgeConsumer)
        }
    }

    private func requestInput(_ input: InputSettings) throws {
        let line = resolved[input.name]!
        let request = try Self.located(profile, input.origin) {
            try line.chip.requestLines([line.offset], settings: line.settings, initialValues: nil, consumer: gpiobridgeConsumer)
        }
        inputLines[input.name] = request
    }

    /// Gives every line back to the kernel.
    public func releaseAll() {
        for request in outputLines.values { request.release() }
        for request in inputLines.values { request.release() }
        outputLines = [:]
        inputLines = [:]
    }

    // MARK: Reload

    /// What a reload changed, by output or input name.
    public struct Changes: Sendable, Equatable {
        public var kept: [String] = []
        public var added: [String] = []
        public var changed: [String] = []
        public var removed: [String] = []
        /// Inputs whose edge stream must be (re)started.
        public var inputsToWatch: [String] = []
        /// Inputs whose edge stream ended.
        public var inputsToStop: [String] = []
        /// Every output whose line is held after the reload.
        public var heldOutputs: Set<String> = []
        /// The levels of the inputs requested anew.
        public var inputLevels: [String: Bool] = [:]

        public var summary: String {
            "lines: \(kept.count) kept, \(added.count) added, \(changed.count) changed, \(removed.count) removed"
        }
    }

    /// Moves to `new` without touching the lines whose configuration did not change: they keep
    /// their request and their state, so they do not glitch. Lines we do not hold yet are
    /// requested before any old one is let go, so a line busy elsewhere leaves everything as it
    /// was. Removed outputs go to their safe state and are released. If a line we held cannot be
    /// requested in its new configuration, the old configuration is restored (at `outputStates`,
    /// the states the outputs had) and this throws.
    public func reconfigure(to new: Profile, outputStates: [String: Bool]) throws -> Changes {
        let newLines = try Self.resolve(new, hardware)
        let oldOutputs = Set(profile.outputs.map(\.name))
        let newOutputs = Set(new.outputs.map(\.name))
        let held = resolved.filter { outputLines[$0.key] != nil || inputLines[$0.key] != nil }
        let kept = Set(
            newLines.keys.filter { name in
                guard let old = held[name], let line = newLines[name] else { return false }
                return oldOutputs.contains(name) == newOutputs.contains(name) && old.key == line.key && old.settings == line.settings
            })
        let heldKeys = Set(held.filter { !kept.contains($0.key) }.map(\.value.key))
        let toRequest = newLines.keys.filter { !kept.contains($0) }.sorted()

        var fresh: [String: any LineRequest] = [:]
        func requestNew(_ name: String) throws {
            let line = newLines[name]!
            let output = new.outputs.first { $0.name == name }
            let origin = output?.origin ?? new.inputs.first { $0.name == name }!.origin
            fresh[name] = try Self.located(new, origin) {
                try line.chip.requestLines(
                    [line.offset], settings: line.settings, initialValues: output.map { [$0.initial == .on] },
                    consumer: gpiobridgeConsumer)
            }
        }
        do {
            for name in toRequest where !heldKeys.contains(newLines[name]!.key) { try requestNew(name) }
        } catch {
            for request in fresh.values { request.release() }
            throw error
        }

        // Let go of what the new profile does not keep; removed or changed outputs go safe first.
        var released: [(name: String, line: Line, state: Bool?)] = []
        for name in held.keys.sorted() where !kept.contains(name) {
            if let request = outputLines.removeValue(forKey: name) {
                let state = outputStates[name] ?? false
                if let output = profile.outputs.first(where: { $0.name == name }), output.safeState != .keep {
                    try? request.setValues([output.safeState == .on])
                }
                request.release()
                released.append((name, held[name]!, state))
            } else if let request = inputLines.removeValue(forKey: name) {
                request.release()
                released.append((name, held[name]!, nil))
            }
        }
        do {
            for name in toRequest where heldKeys.contains(newLines[name]!.key) { try requestNew(name) }
        } catch {
            for request in fresh.values { request.release() }
            for (name, line, state) in released {
                let request = try? line.chip.requestLines(
                    [line.offset], settings: line.settings, initialValues: state.map { [$0] },
                    consumer: gpiobridgeConsumer)
                if state != nil { outputLines[name] = request } else { inputLines[name] = request }
            }
            throw error
        }

        var changes = Changes()
        changes.kept = kept.sorted()
        changes.added = newLines.keys.filter { resolved[$0] == nil }.sorted()
        changes.changed = resolved.keys.filter { newLines[$0] != nil && !kept.contains($0) }.sorted()
        changes.removed = resolved.keys.filter { newLines[$0] == nil }.sorted()
        changes.inputsToStop = released.filter { $0.state == nil }.map(\.name)
        changes.inputsToWatch = new.inputs.map(\.name).filter { fresh[$0] != nil }
        for (name, request) in fresh {
            if newOutputs.contains(name) {
                outputLines[name] = request
            } else {
                inputLines[name] = request
                changes.inputLevels[name] = (try? request.values()[0]) ?? false
            }
        }
        changes.heldOutputs = Set(outputLines.keys)
        profile = new
        resolved = newLines
        return changes
    }

    private static func located<T>(_ profile: Profile, _ origin: SettingLocation, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw AgentStartError(problems: [locate(profile, origin, "line", "\(error)")])
        }
    }

    /// `relay.yml:12:11: outputs[2].line: <problem>`.
    static func locate(_ profile: Profile, _ origin: SettingLocation, _ key: String, _ problem: String) -> String {
        "\(profile.source):\(origin.location(of: key)): \(origin.path).\(key): \(problem)"
    }
}
