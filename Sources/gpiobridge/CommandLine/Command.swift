import Profile
import Scheme

#if canImport(Glibc)
import Glibc
#endif

/// One option: a flag such as `-r`, or an option with a value such as `-t TOPIC` or `--cafile FILE`.
struct OptionSpec: Sendable {
    /// The spellings, such as `["-p", "--port"]`. The last one names the option in ``ParsedArguments``.
    let names: [String]
    /// The value's placeholder in help (`TOPIC`); nil for a flag.
    let value: String?
    let help: String

    static func flag(_ names: String..., help: String) -> OptionSpec {
        OptionSpec(names: names, value: nil, help: help)
    }

    static func option(_ names: String..., value: String, help: String) -> OptionSpec {
        OptionSpec(names: names, value: value, help: help)
    }

    var key: String { names.last! }
}

/// A positional argument.
struct ArgumentSpec: Sendable {
    let name: String
    let help: String
    var optional = false
    /// Takes every remaining positional argument.
    var repeating = false
}

/// A command that runs: its name, help and the arguments it takes.
protocol Command: Sendable {
    static var name: String { get }
    static var abstract: String { get }
    /// More help, shown after the usage line.
    static var discussion: String { get }
    static var options: [OptionSpec] { get }
    static var arguments: [ArgumentSpec] { get }
    /// Reads the parsed arguments; a bad value throws ``UsageError``.
    init(_ arguments: ParsedArguments) throws
    func run() async throws
}

extension Command {
    static var discussion: String { "" }
    static var options: [OptionSpec] { [] }
    static var arguments: [ArgumentSpec] { [] }
}

/// A command with subcommands, such as `gpio`.
struct CommandGroup: Sendable {
    let name: String
    let abstract: String
    let children: [CommandNode]
}

enum CommandNode: Sendable {
    case group(CommandGroup)
    case command(any Command.Type)

    var name: String {
        switch self {
        case .group(let group): group.name
        case .command(let command): command.name
        }
    }

    var abstract: String {
        switch self {
        case .group(let group): group.abstract
        case .command(let command): command.abstract
        }
    }
}

/// A mistake in how the command was called: printed with the usage line, exit code 64.
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A message for the user, printed as `Error: ...`, with exit code 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Ends the process with `code` and no further message (the command printed its own).
struct ExitStatus: Error {
    let code: Int32
    init(_ code: Int32) { self.code = code }
}

/// What the command line said, by option key and argument name.
struct ParsedArguments {
    private(set) var values: [String: [String]] = [:]
    private(set) var positional: [String: [String]] = [:]

    fileprivate mutating func add(_ key: String, _ value: String) { values[key, default: []].append(value) }
    fileprivate mutating func addArgument(_ name: String, _ value: String) { positional[name, default: []].append(value) }

    func flag(_ key: String) -> Bool { values[key] != nil }
    /// The option's value (the last one, if given more than once).
    func string(_ key: String) -> String? { values[key]?.last }
    func strings(_ key: String) -> [String] { values[key] ?? [] }
    func argument(_ name: String) -> String? { positional[name]?.first }
    func arguments(_ name: String) -> [String] { positional[name] ?? [] }

    /// The option's value converted by `convert`; a value it rejects is a usage error naming `expected`.
    func value<T>(_ key: String, expected: String, _ convert: (String) -> T?) throws -> T? {
        guard let text = string(key) else { return nil }
        guard let value = convert(text) else { throw UsageError("\(key): \"\(text)\" is not \(expected)") }
        return value
    }

    func int(_ key: String) throws -> Int? { try value(key, expected: "a whole number") { Int($0) } }
    func double(_ key: String) throws -> Double? { try value(key, expected: "a number") { Double($0) } }

    /// One of an enumeration's raw values.
    func choice<T: RawRepresentable & CaseIterable>(_ key: String) throws -> T? where T.RawValue == String {
        try value(key, expected: "one of " + T.allCases.map(\.rawValue).joined(separator: ", ")) { T(rawValue: $0) }
    }
}

/// Parses and runs the gpiobridge command line.
enum CommandLineTool {
    /// Runs the command the arguments name and returns the exit code.
    static func run(_ root: CommandGroup, version: String, arguments: [String]) async -> Int32 {
        var path = [root.name]
        var node = CommandNode.group(root)
        var remaining = arguments[...]
        while case .group(let group) = node {
            guard let word = remaining.first else {
                printOut(help(group, path: path))
                return 0
            }
            if word == "--version" && path.count == 1 {
                printOut(version)
                return 0
            }
            if word == "--help" {
                printOut(help(group, path: path))
                return 0
            }
            if word.hasPrefix("-") {
                printOut("Error: unknown option \(word)\n(see \(path.joined(separator: " ")) --help)", error: true)
                return 64
            }
            if word == "help" {
                remaining = remaining.dropFirst()
                remaining.append("--help")
                continue
            }
            guard let child = group.children.first(where: { $0.name == word }) else {
                let names = group.children.map(\.name)
                printOut(
                    "Error: \(path.joined(separator: " ")) has no command \"\(word)\"\(suggestion(word, names)); commands: \(names.joined(separator: ", "))",
                    error: true)
                return 64
            }
            path.append(word)
            node = child
            remaining = remaining.dropFirst()
        }
        guard case .command(let command) = node else { return 64 }
        if remaining.contains("--help") {
            printOut(help(command, path: path))
            return 0
        }
        do {
            let parsed = try parse(Array(remaining), for: command)
            try await command.init(parsed).run()
            return 0
        } catch let error as UsageError {
            printOut("Error: \(error)\n\(usage(command, path: path))\n(see \(path.joined(separator: " ")) --help)", error: true)
            return 64
        } catch let status as ExitStatus {
            return status.code
        } catch {
            printOut("Error: \(error)", error: true)
            return 1
        }
    }

    /// Splits `words` into options and positional arguments as `command` declares them.
    static func parse(_ words: [String], for command: any Command.Type) throws -> ParsedArguments {
        var parsed = ParsedArguments()
        var positional: [String] = []
        var index = 0
        func lookup(_ name: String) throws -> OptionSpec {
            if let option = command.options.first(where: { $0.names.contains(name) }) { return option }
            throw UsageError("unknown option \(name)\(suggestion(name, command.options.flatMap(\.names)))")
        }
        while index < words.count {
            let word = words[index]
            index += 1
            if word == "--" {
                positional += words[index...]
                break
            }
            if word.hasPrefix("--") {
                let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
                let option = try lookup(parts[0])
                if option.value == nil {
                    guard parts.count == 1 else { throw UsageError("\(parts[0]) takes no value") }
                    parsed.add(option.key, "")
                } else if parts.count == 2 {
                    parsed.add(option.key, parts[1])
                } else {
                    guard index < words.count else { throw UsageError("\(parts[0]) needs a value (\(option.value!))") }
                    parsed.add(option.key, words[index])
                    index += 1
                }
            } else if word.hasPrefix("-") && word.count > 1 && Double(word) == nil {
                let name = String(word.prefix(2))
                let option = try lookup(name)
                if option.value == nil {
                    guard word.count == 2 else { throw UsageError("\(name) takes no value") }
                    parsed.add(option.key, "")
                } else if word.count > 2 {
                    parsed.add(option.key, String(word.dropFirst(2)))
                } else {
                    guard index < words.count else { throw UsageError("\(name) needs a value (\(option.value!))") }
                    parsed.add(option.key, words[index])
                    index += 1
                }
            } else {
                positional.append(word)
            }
        }
        var next = positional[...]
        for argument in command.arguments {
            if argument.repeating {
                for value in next { parsed.addArgument(argument.name, value) }
                next = []
            } else if let value = next.first {
                parsed.addArgument(argument.name, value)
                next = next.dropFirst()
            }
            if parsed.arguments(argument.name).isEmpty && !argument.optional {
                throw UsageError("missing \(argument.name)")
            }
        }
        if let extra = next.first { throw UsageError("unexpected argument \"\(extra)\"") }
        return parsed
    }

    static func usage(_ command: any Command.Type, path: [String]) -> String {
        var words = ["Usage:"] + path
        if !command.options.isEmpty { words.append("[options]") }
        for argument in command.arguments {
            let name = argument.repeating ? "\(argument.name)..." : argument.name
            words.append(argument.optional ? "[\(name)]" : name)
        }
        return words.joined(separator: " ")
    }

    static func help(_ command: any Command.Type, path: [String]) -> String {
        var lines = [command.abstract, "", usage(command, path: path)]
        if !command.discussion.isEmpty { lines += ["", command.discussion] }
        if !command.arguments.isEmpty {
            lines += ["", "Arguments:"] + command.arguments.map { column($0.name, $0.help) }
        }
        lines +=
            ["", "Options:"]
            + command.options.map { option in
                column(option.names.joined(separator: ", ") + (option.value.map { " \($0)" } ?? ""), option.help)
            } + [column("--help", "Show this help.")]
        return lines.joined(separator: "\n")
    }

    static func help(_ group: CommandGroup, path: [String]) -> String {
        var lines = [group.abstract, "", "Usage: \(path.joined(separator: " ")) COMMAND [options]", "", "Commands:"]
        lines += group.children.map { column($0.name, $0.abstract) }
        lines += ["", "Run \(path.joined(separator: " ")) COMMAND --help for a command's options."]
        return lines.joined(separator: "\n")
    }

    private static func column(_ left: String, _ right: String) -> String {
        let padded = left.count < 26 ? left + String(repeating: " ", count: 26 - left.count) : left + "\n" + String(repeating: " ", count: 28)
        return "  " + padded + right
    }
}

/// ` (did you mean --port?)` when one of `candidates` is a close spelling of `word`.
func suggestion(_ word: String, _ candidates: [String]) -> String {
    closestMatch(to: word, in: candidates).map { " (did you mean \($0)?)" } ?? ""
}

/// Writes a line to standard output, or to standard error.
func printOut(_ text: String, error: Bool = false) {
    var line = text + "\n"
    line.withUTF8 { bytes in _ = write(error ? 2 : 1, bytes.baseAddress, bytes.count) }
}
