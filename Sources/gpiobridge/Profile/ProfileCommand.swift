import Agent
import Hardware
import JSON
import Profile
import Scheme

#if canImport(Glibc)
import Glibc
#endif

/// `gpiobridge profile`: check and show profiles before they run.
enum ProfileCommand {
    static let group = CommandGroup(
        name: "profile", abstract: "Validate, show and apply YAML profiles.",
        children: [.command(Validate.self), .command(Show.self), .command(Apply.self)])

    static let fileArgument = ArgumentSpec(name: "FILE", help: "The profile, such as Profiles/relay.yml.")

    /// Loads the profile, or prints every issue and exits 2. With `checkingFiles`, the files it
    /// names (CA, certificate, key, password file) must exist.
    static func load(_ path: String, checkingFiles: Bool = true) throws -> Profile {
        try loadOrExit(path, what: "profile") { (path) throws(ProfileError) in
            try ProfileLoader.load(path: path, checkingFiles: checkingFiles)
        }
    }

    /// Runs `load` on `path`; an invalid profile is printed with every issue and exits 2.
    static func loadOrExit<T>(_ path: String, what: String, _ load: (String) throws(ProfileError) -> T) throws -> T {
        do {
            return try load(path)
        } catch {
            printOut(error.description, error: true)
            printOut("\(path): \(error.issues.count == 1 ? "1 issue" : "\(error.issues.count) issues"); the \(what) was not used", error: true)
            throw ExitStatus(2)
        }
    }

    struct Validate: Command {
        static let name = "validate"
        static let abstract = "Check agent and relay profiles: every issue with file:line:column, the setting and a fix; exit 2 if one is invalid."
        static let discussion = """
            Given several profiles (those of one fleet), it also warns where they would collide when run side by side: a device
            id taken twice, an agent publishing to a topic a relay reads as a plain board's, two plain boards on one topic.
            """
        static let arguments = [ArgumentSpec(name: "FILE", help: "The profiles, such as Profiles/fleet.yml Profiles/tutorial.yml.", repeating: true)]
        let paths: [String]

        init(_ arguments: ParsedArguments) throws { paths = arguments.arguments("FILE") }

        func run() async throws {
            var agents: [Profile] = []
            var relays: [RelayProfile] = []
            var invalid = false
            for path in paths {
                do {
                    if ProfileLoader.isRelayProfile(path: path) {
                        let relay = try RelayCommand.load(path)
                        let discovered = [relay.discoverTasmota ? "Tasmota" : nil, relay.discoverESPHome ? "ESPHome" : nil].compactMap { $0 }
                        print(
                            "\(path): a valid relay profile (relay \(relay.id); \(relay.boards.count) board\(relay.boards.count == 1 ? "" : "s"), \(relay.links.count) link\(relay.links.count == 1 ? "" : "s")"
                                + (discovered.isEmpty ? "" : "; discovers \(discovered.joined(separator: " and "))") + ")")
                        relays.append(relay)
                    } else {
                        let profile = try ProfileCommand.load(path)
                        let counts = [
                            ("output", profile.outputs.count), ("input", profile.inputs.count), ("sensor", profile.sensors.count),
                            ("publisher", profile.publishers.count), ("subscription", profile.subscriptions.count),
                        ]
                        .filter { $0.1 > 0 }.map { "\($0.1) \($0.0)\($0.1 == 1 ? "" : "s")" }
                        print("\(path): valid (device \(profile.device.id)\(counts.isEmpty ? "" : "; " + counts.joined(separator: ", ")))")
                        agents.append(profile)
                    }
                } catch is ExitStatus {
                    invalid = true
                }
            }
            for warning in FleetCheck.warnings(agents: agents, relays: relays) { printOut(warning.description, error: true) }
            if invalid { throw ExitStatus(2) }
        }
    }

    struct Show: Command {
        static let name = "show"
        static let abstract = "Print an agent or relay profile resolved, as a profile: every default filled in and every topic spelled out."
        static let arguments = [ProfileCommand.fileArgument]
        let path: String

        init(_ arguments: ParsedArguments) throws { path = arguments.argument("FILE")! }

        func run() async throws {
            if ProfileLoader.isRelayProfile(path: path) {
                print(try RelayCommand.load(path, checkingFiles: false).resolvedDescription)
                return
            }
            // Shown as written, whether or not this machine has the files it names.
            print(try ProfileCommand.load(path, checkingFiles: false).resolvedDescription)
        }
    }

    struct Apply: Command {
        static let name = "apply"
        static let abstract = "Validate a profile, install it for the agent, and make the running agent reload it."
        static let discussion = """
            The profile is installed atomically as $GPIOBRIDGE_DIR/profile.yml (default /etc/gpiobridge;
            NAME.yml with --instance), and the one it replaces is kept as .previous. A running agent
            reloads it and keeps its connection; if the agent refuses it (a busy line, say), the previous
            file is put back and the reason is printed. Exit 2: invalid profile; 1: the agent refused it.
            """
        static let arguments = [ProfileCommand.fileArgument]
        static let options = [AgentCommand.instanceOption]
        let path: String
        let instance: String?

        init(_ arguments: ParsedArguments) throws {
            path = arguments.argument("FILE")!
            instance = arguments.string("--instance")
        }

        func run() async throws {
            let socket = ControlSocket.path(instance: instance)
            let target = AgentCommand.profilePath(instance: instance)
            // Checked as the agent will read it: a relative password file is beside the installed copy.
            let profile = try ProfileCommand.loadOrExit(path, what: "profile") { (path) throws(ProfileError) in
                try ProfileLoader.load(path: path, installedAt: target)
            }
            var running: AgentStatus?
            do {
                if case .status(let status) = try ControlClient.send(.status, to: socket) { running = status }
            } catch .noAgent {
                running = nil
            } catch {
                throw CLIError("\(error)")
            }
            // The agent reloads only its own file: it must be the one installed here.
            if let running, running.profile != target {
                throw CLIError("the running agent uses \(running.profile), not \(target); nothing was installed (restart it on \(target))")
            }
            let agentRunning = running != nil
            if !agentRunning { try checkLines(profile) }
            let text = try readFile(path)
            let previous = access(target, F_OK) == 0 ? try readFile(target) : nil
            if let previous { try writeAtomically(target + ".previous", previous) }
            try writeAtomically(target, text)
            guard agentRunning else {
                print("installed \(target); no agent is running to reload it (start it: systemctl start gpiobridge)")
                return
            }
            do {
                if case .reloaded(let summary, _) = try askAgent(.reload, instance: instance) { print("applied \(path) as \(target): \(summary)") }
            } catch {
                if let previous { try writeAtomically(target, previous) } else { unlink(target) }
                // The agent read the installed copy; name the user's file, which has the same lines.
                let reason = "\(error)".replacingPrefix(target + ":", with: path + ":")
                throw CLIError("the running agent refused \(path) and keeps its profile:\n\(reason)")
            }
        }

        /// With no agent to try it, the lines are checked against this machine's chips.
        private func checkLines(_ profile: Profile) throws {
            let chips = try GPIOChips.system(expanders: profile.expanders.map(\.specification))
            var problems: [String] = []
            for (line, origin) in profile.outputs.map({ ($0.line, $0.origin) }) + profile.inputs.map({ ($0.line, $0.origin) }) {
                do {
                    _ = try chips.resolve(line.description)
                } catch {
                    problems.append("\(profile.source):\(origin.location(of: "line")): \(origin.path).line: \(error)")
                }
            }
            guard problems.isEmpty else {
                printOut(problems.joined(separator: "\n"), error: true)
                printOut("\(profile.source): the lines do not exist on this machine; the profile was not installed", error: true)
                throw ExitStatus(2)
            }
        }
    }
}

func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw CLIError("cannot read \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { throw CLIError("cannot read \(path): \(String(cString: strerror(errno)))") }
        if count == 0 { return bytes }
        bytes += buffer[..<count]
    }
}

/// Writes a temporary file beside `path`, flushes it to disk and renames it over `path`, so a
/// reader (or a power cut) sees the old file or the new one, never half of one.
func writeAtomically(_ path: String, _ bytes: [UInt8]) throws {
    let temporary = path + ".tmp-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw CLIError("cannot write \(path): \(String(cString: strerror(errno))) (run as root for /etc/gpiobridge)") }
    var written = 0
    while written < bytes.count {
        let count = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard count > 0 else {
            close(fd)
            unlink(temporary)
            throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        written += count
    }
    fsync(fd)
    close(fd)
    guard rename(temporary, path) == 0 else {
        unlink(temporary)
        throw CLIError("cannot install \(path): \(String(cString: strerror(errno)))")
    }
}

extension String {
    /// Replaces `prefix` at the start of every line.
    fileprivate func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(prefix) ? replacement + $0.dropFirst(prefix.count) : String($0) }
            .joined(separator: "\n")
    }
}
