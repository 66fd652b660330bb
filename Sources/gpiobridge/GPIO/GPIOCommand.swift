import Hardware
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `gpiobridge gpio`: look at and drive GPIO lines, like gpiodetect, gpioinfo, gpioget, gpioset
/// and gpiomon.
enum GPIOCommand {
    static let group = CommandGroup(
        name: "gpio", abstract: "Inspect and drive GPIO lines (libgpiod, and I2C expanders).",
        children: [.command(Detect.self), .command(Info.self), .command(Get.self), .command(Set.self), .command(Monitor.self)])

    static let expanderOption = OptionSpec.option(
        "--expander", value: "SPEC",
        help: "Also use an I2C expander as a chip: MODEL@BUS:ADDRESS[,int=LINE], such as mcp23017@1:0x20,int=GPIO4 (repeatable).")
    static let biasOption = OptionSpec.option("--bias", value: "BIAS", help: "Pull resistor: as-is, disabled, pull-up or pull-down.")
    static let lineArguments = ArgumentSpec(name: "LINE", help: "A line name (GPIO17) or chip:offset (gpiochip0:17).", repeating: true)

    /// The kernel's chips and the expanders the command line names.
    static func chips(_ arguments: ParsedArguments) throws -> GPIOChips {
        try GPIOChips.system(expanders: arguments.strings("--expander").map(ExpanderSpecification.init(parsing:)))
    }

    static let noChips = "no GPIO chips found: /dev/gpiochip* does not exist on this machine, and no --expander was given"

    struct Detect: Command {
        static let name = "detect"
        static let abstract = "List the GPIO chips."
        static let options = [GPIOCommand.expanderOption]
        let system: GPIOChips

        init(_ arguments: ParsedArguments) throws { system = try GPIOCommand.chips(arguments) }

        func run() async throws {
            if system.chips.isEmpty { print(GPIOCommand.noChips) }
            for chip in system.chips { print("\(chip.info.name) [\(chip.info.label)] (\(chip.info.lineCount) lines)") }
        }
    }

    struct Info: Command {
        static let name = "info"
        static let abstract = "Describe the lines of some or all chips."
        static let options = [GPIOCommand.expanderOption]
        static let arguments = [
            ArgumentSpec(
                name: "CHIP", help: "gpiochip0, 0 or a label; all chips when none is given.",
                optional: true, repeating: true)
        ]
        let system: GPIOChips
        let chipNames: [String]

        init(_ arguments: ParsedArguments) throws {
            system = try GPIOCommand.chips(arguments)
            chipNames = arguments.arguments("CHIP")
        }

        func run() async throws {
            if system.chips.isEmpty {
                print(GPIOCommand.noChips)
                return
            }
            for chip in try chipNames.isEmpty ? system.chips : chipNames.map({ try system.chip(named: $0) }) {
                print("\(chip.info.name) - \(chip.info.lineCount) lines [\(chip.info.label)]:")
                for line in try chip.allLines() {
                    var fields = ["\tline \(line.offset):", line.name.isEmpty ? "unnamed" : "\"\(line.name)\"", line.direction.rawValue]
                    if line.isUsed { fields.append(line.consumer.isEmpty ? "used" : "used by \"\(line.consumer)\"") }
                    if line.activeLow { fields.append("active-low") }
                    if line.bias != .asIs { fields.append(line.bias.rawValue) }
                    if line.drive != .pushPull { fields.append(line.drive.rawValue) }
                    print(fields.joined(separator: " "))
                }
            }
        }
    }

    struct Get: Command {
        static let name = "get"
        static let abstract = "Read input lines."
        static let options = [
            GPIOCommand.expanderOption, GPIOCommand.biasOption,
            .flag("--active-low", help: "Report the inverse of the electrical level."),
        ]
        static let arguments = [GPIOCommand.lineArguments]
        let system: GPIOChips
        let lines: [String]
        let settings: LineSettings

        init(_ arguments: ParsedArguments) throws {
            system = try GPIOCommand.chips(arguments)
            lines = arguments.arguments("LINE")
            settings = .input(bias: try arguments.choice("--bias") ?? .asIs, activeLow: arguments.flag("--active-low"))
        }

        func run() async throws {
            for specification in lines {
                let (chip, offset) = try system.resolve(specification)
                let request = try chip.requestLines([offset], settings: settings, initialValues: nil, consumer: gpiobridgeConsumer)
                defer { request.release() }
                print("\(specification)=\(try request.values()[0] ? 1 : 0)")
            }
        }
    }

    struct Set: Command {
        static let name = "set"
        static let abstract = "Drive output lines and hold them until interrupted."
        static let discussion = """
            Lines are NAME=VALUE or CHIP:OFFSET=VALUE, or a chip followed by OFFSET=VALUE pairs
            (gpiobridge gpio set gpiochip0 17=1). Values are 0/1, on/off or true/false.
            """
        static let options = [
            GPIOCommand.expanderOption,
            .flag("--active-low", help: "1 drives the line low."),
            .option("--drive", value: "DRIVE", help: "push-pull, open-drain or open-source."),
            .option("--hold", value: "SECONDS", help: "Hold the values this long, then release; by default until SIGINT or SIGTERM."),
        ]
        static let arguments = [
            ArgumentSpec(
                name: "ASSIGNMENT", help: "NAME=VALUE pairs, or a chip and OFFSET=VALUE pairs.",
                repeating: true)
        ]
        let system: GPIOChips
        let assignments: [(line: String, value: Bool)]
        let settings: LineSettings
        let hold: Double?

        init(_ arguments: ParsedArguments) throws {
            var words = arguments.arguments("ASSIGNMENT")
            var chipName: String?
            if let first = words.first, !first.contains("=") {
                chipName = first
                words.removeFirst()
            }
            guard !words.isEmpty else { throw UsageError("give at least one LINE=VALUE") }
            assignments = try words.map { word in
                let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let value = Self.value(parts[1]) else {
                    throw UsageError("\"\(word)\" is not LINE=VALUE with VALUE 0, 1, on, off, true or false")
                }
                return (chipName.map { "\($0):\(parts[0])" } ?? parts[0], value)
            }
            settings = .output(activeLow: arguments.flag("--active-low"), drive: try arguments.choice("--drive") ?? .pushPull)
            hold = try arguments.value("--hold", expected: "a number of seconds") { Double($0).flatMap { $0 >= 0 ? $0 : nil } }
            system = try GPIOCommand.chips(arguments)
        }

        func run() async throws {
            var requests: [any LineRequest] = []
            defer { for request in requests { request.release() } }
            for (line, value) in assignments {
                let (chip, offset) = try system.resolve(line)
                requests.append(try chip.requestLines([offset], settings: settings, initialValues: [value], consumer: gpiobridgeConsumer))
            }
            if let hold {
                try await Task.sleep(for: .milliseconds(Int(hold * 1000)))
            } else {
                for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { break }
            }
        }

        static func value(_ text: String) -> Bool? {
            switch text.lowercased() {
            case "1", "on", "true", "high": true
            case "0", "off", "false", "low": false
            default: nil
            }
        }
    }

    struct Monitor: Command {
        static let name = "monitor"
        static let abstract = "Print edge events of input lines as they happen."
        static let options = [
            GPIOCommand.expanderOption, GPIOCommand.biasOption,
            .option("--edge", value: "EDGE", help: "rising, falling or both (default both)."),
            .option(
                "--debounce-us", value: "MICROSECONDS",
                help: "Debounce period: in the kernel with libgpiod v2, in gpiobridge with v1."),
            .option("-n", value: "COUNT", help: "Exit after this many events."),
        ]
        static let arguments = [GPIOCommand.lineArguments]
        let system: GPIOChips
        let lines: [String]
        let settings: LineSettings
        let count: Int?

        init(_ arguments: ParsedArguments) throws {
            system = try GPIOCommand.chips(arguments)
            lines = arguments.arguments("LINE")
            let edge: LineEdge = try arguments.choice("--edge") ?? .both
            settings = .input(
                bias: try arguments.choice("--bias") ?? .asIs, edge: edge == .none ? .both : edge,
                debounceMicroseconds: try arguments.value("--debounce-us", expected: "a number of microseconds") { UInt32($0) } ?? 0)
            count = try arguments.value("-n", expected: "a positive count") { Int($0).flatMap { $0 > 0 ? $0 : nil } }
        }

        func run() async throws {
            var requests: [(name: String, request: any LineRequest)] = []
            defer { for entry in requests { entry.request.release() } }
            for specification in lines {
                let (chip, offset) = try system.resolve(specification)
                requests.append(
                    (
                        specification,
                        try chip.requestLines(
                            [offset], settings: settings, initialValues: nil,
                            consumer: gpiobridgeConsumer)
                    ))
            }
            let limit = count
            try await withThrowingTaskGroup(of: Void.self) { group in
                let printed = EventCounter()
                for (name, request) in requests {
                    let events = try request.edgeEvents()
                    group.addTask {
                        for await event in events {
                            let seconds = event.timestampNanoseconds / 1_000_000_000
                            let fraction = String(event.timestampNanoseconds % 1_000_000_000)
                            print(
                                "\(seconds).\(String(repeating: "0", count: 9 - fraction.count))\(fraction) \(event.rising ? "rising" : "falling") \(name)"
                            )
                            fflush(nil)
                            if let limit, await printed.increment() >= limit { return }
                        }
                    }
                }
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { return }
                }
                try await group.next()
                group.cancelAll()
                for entry in requests { entry.request.release() }
            }
        }
    }
}

private actor EventCounter {
    private var count = 0
    func increment() -> Int {
        count += 1
        return count
    }
}
