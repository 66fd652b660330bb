import Profile

/// `gpiobridge profile`: check and show profiles before they run.
enum ProfileCommand {
    static let group = CommandGroup(name: "profile", abstract: "Validate, show and apply YAML profiles.",
                                    children: [.command(Validate.self), .command(Show.self)])

    static let fileArgument = ArgumentSpec(name: "FILE", help: "The profile, such as Profiles/relay.yml.")

    /// Loads the profile, or prints every issue and exits 2.
    static func load(_ path: String) throws -> Profile {
        do {
            return try ProfileLoader.load(path: path)
        } catch {
            printOut(error.description, error: true)
            printOut("\(path): \(error.issues.count == 1 ? "1 issue" : "\(error.issues.count) issues"); the profile was not used", error: true)
            throw ExitStatus(2)
        }
    }

    struct Validate: Command {
        static let name = "validate"
        static let abstract = "Check a profile: every issue with file:line:column, the setting and a fix; exit 2 if invalid."
        static let arguments = [ProfileCommand.fileArgument]
        let path: String

        init(_ arguments: ParsedArguments) throws { path = arguments.argument("FILE")! }

        func run() async throws {
            let profile = try ProfileCommand.load(path)
            let counts = [("output", profile.outputs.count), ("input", profile.inputs.count), ("sensor", profile.sensors.count),
                          ("publisher", profile.publishers.count), ("subscription", profile.subscriptions.count)]
                .filter { $0.1 > 0 }.map { "\($0.1) \($0.0)\($0.1 == 1 ? "" : "s")" }
            print("\(path): valid (device \(profile.device.id)\(counts.isEmpty ? "" : "; " + counts.joined(separator: ", ")))")
        }
    }

    struct Show: Command {
        static let name = "show"
        static let abstract = "Print a profile resolved: every default filled in and every topic spelled out."
        static let arguments = [ProfileCommand.fileArgument]
        let path: String

        init(_ arguments: ParsedArguments) throws { path = arguments.argument("FILE")! }

        func run() async throws {
            print(try ProfileCommand.load(path).resolvedDescription)
        }
    }
}
