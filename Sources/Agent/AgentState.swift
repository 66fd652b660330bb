import Hardware
import Logging
import Profile

/// The agent's lines and output logic, owned by its event loop.
struct AgentState {
    let profile: Profile
    var controller: OutputController
    var outputLines: [String: any LineRequest] = [:]
    var inputLines: [String: any LineRequest] = [:]
    /// The last known logical level of each input.
    var inputLevels: [String: Bool] = [:]
    /// Retained states seen for `initial: restore` outputs.
    var restored: [String: Bool] = [:]
    var awaitingRestore: Bool
    /// The state topics of `initial: restore` outputs, read once at start.
    let restoreTopics: [String]
    private let resolved: [String: (chip: any GPIOChip, offset: Int)]

    /// Finds every line and requests them: outputs at their initial state (those restoring their
    /// retained state wait), inputs with their bias, edges and debounce. Any failure releases
    /// what was requested and throws, naming the profile setting.
    init(profile: Profile, hardware: AgentHardware, logger: Logger) throws {
        self.profile = profile
        var problems: [String] = []
        var resolved: [String: (chip: any GPIOChip, offset: Int)] = [:]
        var owners: [String: String] = [:]
        let lines = profile.outputs.map { ($0.name, $0.line, $0.origin) } + profile.inputs.map { ($0.name, $0.line, $0.origin) }
        for (name, line, origin) in lines {
            do {
                let found = try hardware.chips.resolve(line.description)
                let key = "\(found.chip.info.name):\(found.offset)"
                if let owner = owners[key] {
                    problems.append(Self.locate(profile, origin, "line", "\(line) is \(key), which \(owner) already uses"))
                }
                owners[key] = origin.path
                resolved[name] = found
            } catch {
                problems.append(Self.locate(profile, origin, "line", "\(error)"))
            }
        }
        guard problems.isEmpty else { throw AgentStartError(problems: problems) }
        self.resolved = resolved
        restoreTopics = profile.outputs.filter { $0.initial == .restore }.map(\.stateTopic)
        awaitingRestore = !restoreTopics.isEmpty
        controller = OutputController(outputs: profile.outputs, initialStates: [:])
        do {
            var initial: [String: Bool] = [:]
            for output in profile.outputs where output.initial != .restore {
                initial[output.name] = output.initial == .on
                outputLines[output.name] = try request(output, on: output.initial == .on)
            }
            for input in profile.inputs {
                let (chip, offset) = resolved[input.name]!
                let settings = LineSettings.input(bias: input.bias, edge: input.edge, activeLow: input.activeLow,
                                                  debounceMicroseconds: UInt32(input.debounceMilliseconds * 1000))
                let request = try Self.located(profile, input.origin) {
                    try chip.requestLines([offset], settings: settings, initialValues: nil, consumer: gpiobridgeConsumer)
                }
                inputLines[input.name] = request
                inputLevels[input.name] = try request.values()[0]
            }
            controller = OutputController(outputs: profile.outputs, initialStates: initial)
        } catch {
            releaseAll()
            throw error
        }
    }

    /// The edge events of every input, by name.
    func inputStreams() throws -> [(String, AsyncStream<EdgeEvent>)] {
        try profile.inputs.map { ($0.name, try inputLines[$0.name]!.edgeEvents()) }
    }

    /// Requests the outputs that waited for their retained state.
    mutating func requestRestoredOutputs() throws {
        awaitingRestore = false
        for output in profile.outputs where output.initial == .restore {
            let on = restored[output.name] ?? false
            outputLines[output.name] = try request(output, on: on)
            controller.adopt(output.name, on: on)
        }
    }

    private func request(_ output: OutputSettings, on: Bool) throws -> any LineRequest {
        let (chip, offset) = resolved[output.name]!
        return try Self.located(profile, output.origin) {
            try chip.requestLines([offset], settings: .output(activeLow: output.activeLow, drive: output.drive), initialValues: [on],
                                  consumer: gpiobridgeConsumer)
        }
    }

    /// Gives every line back to the kernel.
    mutating func releaseAll() {
        for request in outputLines.values { request.release() }
        for request in inputLines.values { request.release() }
        outputLines = [:]
        inputLines = [:]
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
