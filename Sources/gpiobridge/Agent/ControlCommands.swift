import Agent
import Scheme
import JSON
import Profile

#if canImport(Glibc)
import Glibc
#endif

/// Asks the running agent over its control socket; a refusal becomes an error.
func askAgent(_ request: JSONValue, instance: String?) throws -> JSONValue {
    let answer = try ControlClient.send(request, to: ControlSocket.path(instance: instance))
    guard answer["ok"] == .bool(true) else {
        if case .string(let error)? = answer["error"] { throw CLIError(error) }
        throw CLIError("the agent refused: \(answer.serialized)")
    }
    return answer
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
        let status = try askAgent(.object(["command": .string("status")]), instance: instance)["status"] ?? .null
        if json {
            print(status.serialized)
            return
        }
        func text(_ value: JSONValue?) -> String {
            if case .string(let text)? = value { return text }
            return "-"
        }
        print("device:     \(text(status["device"]))")
        print("profile:    \(text(status["profile"]))")
        print("connection: \(text(status["connection"]))")
        for (title, key) in [("outputs", "outputs"), ("inputs", "inputs")] {
            guard case .array(let lines)? = status[key], !lines.isEmpty else { continue }
            print("\(title):")
            for line in lines {
                let name = text(line["name"]), state = line["state"] == .null ? "not held" : text(line["state"])
                print("  \(name.padding(to: 16)) \(text(line["line"]).padding(to: 16)) \(state)")
            }
        }
        if case .array(let sensors)? = status["sensors"], !sensors.isEmpty {
            print("sensors:    \(sensors.map { text($0) }.joined(separator: ", "))")
        }
        if case .array(let errors)? = status["errors"] {
            print(errors.isEmpty ? "errors:     none" : "last errors:")
            for error in errors { print("  \(text(error))") }
        }
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
        let answer = try askAgent(.object(["command": .string("reload")]), instance: instance)
        if case .string(let summary)? = answer["summary"] { print("reloaded: \(summary)") }
    }
}

/// `gpiobridge simulate GPIO27=0`: drives an input of an agent that runs on the simulated chip.
struct SimulateCommand: Command {
    static let name = "simulate"
    static let abstract = "Drive an input line of an agent running with --simulate, as a button or sensor would."
    static let options = [AgentCommand.instanceOption]
    static let arguments = [ArgumentSpec(name: "LINE=LEVEL", help: "GPIO27=0 (low), GPIO27=1 (high) or GPIO27=pull (let its pull decide).")]
    let line: String
    let level: JSONValue
    let instance: String?

    init(_ arguments: ParsedArguments) throws {
        let parts = arguments.argument("LINE=LEVEL")!.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw UsageError("write LINE=LEVEL, such as GPIO27=0") }
        line = parts[0]
        switch parts[1].lowercased() {
        case "1", "high", "on": level = .bool(true)
        case "0", "low", "off": level = .bool(false)
        case "pull", "release": level = .null
        default: throw UsageError("LEVEL is 0, 1 or pull")
        }
        instance = arguments.string("--instance")
    }

    func run() async throws {
        _ = try askAgent(.object(["command": .string("drive"), "line": .string(line), "level": level]), instance: instance)
    }
}

extension String {
    func padding(to width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
