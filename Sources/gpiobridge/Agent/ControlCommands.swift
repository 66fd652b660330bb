import Agent
import Profile
import Scheme

#if canImport(Glibc)
import Glibc
#endif

/// Asks the running agent over its control socket; a refusal becomes an error.
func askAgent(_ request: ControlRequest, instance: String?) throws -> ControlReply {
    let reply = try ControlClient.send(request, to: ControlSocket.path(instance: instance))
    if case .refused(let error) = reply { throw CLIError(error) }
    return reply
}

/// `gpiobridge status`: what the running agent is doing.
struct StatusCommand: Command {
    static let name = "status"
    static let abstract = "Show the running agent: connection, profile, lines and their states, and the last errors."
    static let options = [OptionSpec.flag("--json", help: "Print the status as JSON."), AgentCommand.instanceOption]
    let json: Bool
    let instance: String?

    init(_ arguments: ParsedArguments) throws {
        json = arguments.flag("--json")
        instance = arguments.string("--instance")
    }

    func run() async throws {
        guard case .status(let status) = try askAgent(.status, instance: instance) else {
            throw CLIError("the agent answered status with something else")
        }
        if json {
            print(status.json.serialized)
            return
        }
        print("device:     \(status.device)")
        print("profile:    \(status.profile)")
        print("connection: \(status.connection)")
        for (title, lines) in [("outputs", status.outputs), ("inputs", status.inputs)] where !lines.isEmpty {
            print("\(title):")
            for line in lines {
                let state = line.state.map { $0 ? "ON" : "OFF" } ?? "not held"
                print("  \(line.name.padding(to: 16)) \(line.line.padding(to: 16)) \(state)")
            }
        }
        if !status.sensors.isEmpty { print("sensors:    \(status.sensors.joined(separator: ", "))") }
        print(status.recentErrors.isEmpty ? "errors:     none" : "last errors:")
        for error in status.recentErrors { print("  \(error)") }
    }
}

/// `gpiobridge reload`: the running agent reads its profile file again (systemd's ExecReload).
struct ReloadCommand: Command {
    static let name = "reload"
    static let abstract = "Make the running agent reload its profile; unchanged lines do not glitch. Exit 1 if it refuses."
    static let options = [AgentCommand.instanceOption]
    let instance: String?

    init(_ arguments: ParsedArguments) throws { instance = arguments.string("--instance") }

    func run() async throws {
        if case .reloaded(let summary, _) = try askAgent(.reload, instance: instance) { print("reloaded: \(summary)") }
    }
}

/// `gpiobridge simulate GPIO27=0`: drives an input of an agent that runs on the simulated chip.
struct SimulateCommand: Command {
    static let name = "simulate"
    static let abstract = "Drive an input line of an agent running with --simulate, as a button or sensor would."
    static let options = [AgentCommand.instanceOption]
    static let arguments = [ArgumentSpec(name: "LINE=LEVEL", help: "GPIO27=0 (low), GPIO27=1 (high) or GPIO27=pull (let its pull decide).")]
    let line: String
    let level: Bool?
    let instance: String?

    init(_ arguments: ParsedArguments) throws {
        let parts = arguments.argument("LINE=LEVEL")!.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw UsageError("write LINE=LEVEL, such as GPIO27=0") }
        line = parts[0]
        switch parts[1].lowercased() {
        case "1", "high", "on": level = true
        case "0", "low", "off": level = false
        case "pull", "release": level = nil
        default: throw UsageError("LEVEL is 0, 1 or pull")
        }
        instance = arguments.string("--instance")
    }

    func run() async throws {
        _ = try askAgent(.drive(line: line, level: level), instance: instance)
    }
}

extension String {
    func padding(to width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
