import ArgumentParser
import Hardware
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `gpiobridge gpio`: look at and drive GPIO lines, like gpiodetect, gpioinfo, gpioget, gpioset
/// and gpiomon.
struct GPIOCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpio",
        abstract: "Inspect and drive GPIO lines (libgpiod).",
        subcommands: [Detect.self, Info.self, Get.self, Set.self, Monitor.self]
    )

    struct Detect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the GPIO chips.")

        @OptionGroup var expanders: ExpanderOptions

        func run() async throws {
            try await reportingErrors {
                let chips = try expanders.chips().chips
                if chips.isEmpty {
                    print("no GPIO chips found: /dev/gpiochip* does not exist on this machine, and no --expander was given")
                    return
                }
                for chip in chips {
                    print("\(chip.info.name) [\(chip.info.label)] (\(chip.info.lineCount) lines)")
                }
            }
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Describe the lines of some or all chips.")

        @OptionGroup var expanders: ExpanderOptions

        @Argument(help: "Chips to describe (gpiochip0, 0 or a label); all when none is given.")
        var chips: [String] = []

        func run() async throws {
            try await reportingErrors {
                let system = try expanders.chips()
                if system.chips.isEmpty {
                    print("no GPIO chips found: /dev/gpiochip* does not exist on this machine, and no --expander was given")
                    return
                }
                let selected = try chips.isEmpty ? system.chips : chips.map { try system.chip(named: $0) }
                for chip in selected {
                    print("\(chip.info.name) - \(chip.info.lineCount) lines [\(chip.info.label)]:")
                    for line in try chip.allLines() {
                        var fields = ["\tline \(line.offset):", line.name.isEmpty ? "unnamed" : "\"\(line.name)\"",
                                      line.direction.rawValue]
                        if line.isUsed { fields.append(line.consumer.isEmpty ? "used" : "used by \"\(line.consumer)\"") }
                        if line.activeLow { fields.append("active-low") }
                        if line.bias != .asIs { fields.append(line.bias.rawValue) }
                        if line.drive != .pushPull { fields.append(line.drive.rawValue) }
                        print(fields.joined(separator: " "))
                    }
                }
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Read input lines.")

        @OptionGroup var expanders: ExpanderOptions

        @Argument(help: "Lines: a name (GPIO17) or chip:offset (gpiochip0:17).")
        var lines: [String]

        @Option(help: "Pull resistor: as-is, disabled, pull-up or pull-down.")
        var bias: LineBias = .asIs

        @Flag(help: "Report the inverse of the electrical level.")
        var activeLow = false

        func run() async throws {
            try await reportingErrors {
                let system = try expanders.chips()
                for specification in lines {
                    let (chip, offset) = try system.resolve(specification)
                    let request = try chip.requestLines([offset], settings: .input(bias: bias, activeLow: activeLow),
                                                        initialValues: nil, consumer: gpiobridgeConsumer)
                    defer { request.release() }
                    print("\(specification)=\(try request.values()[0] ? 1 : 0)")
                }
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drive output lines and hold them until interrupted.",
            discussion: """
                Lines are NAME=VALUE or CHIP:OFFSET=VALUE, or a chip followed by OFFSET=VALUE pairs \
                (gpiobridge gpio set gpiochip0 17=1). Values are 0/1, on/off or true/false.
                """)

        @OptionGroup var expanders: ExpanderOptions

        @Argument(help: "NAME=VALUE pairs, or a chip and OFFSET=VALUE pairs.")
        var assignments: [String]

        @Flag(help: "1 drives the line low.")
        var activeLow = false

        @Option(help: "push-pull, open-drain or open-source.")
        var drive: LineDrive = .pushPull

        @Option(help: "Seconds to hold the values, then release; by default until SIGINT or SIGTERM.")
        var hold: Double?

        func run() async throws {
            try await reportingErrors {
                let system = try expanders.chips()
                var chipName: String?
                var parsed = assignments
                if let first = parsed.first, !first.contains("=") {
                    chipName = first
                    parsed.removeFirst()
                }
                guard !parsed.isEmpty else { throw ValidationError("give at least one LINE=VALUE") }
                var requests: [any LineRequest] = []
                defer { for request in requests { request.release() } }
                for assignment in parsed {
                    let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2, let value = Self.value(parts[1]) else {
                        throw ValidationError("\"\(assignment)\" is not LINE=VALUE with VALUE 0, 1, on, off, true or false")
                    }
                    let (chip, offset) = try system.resolve(chipName.map { "\($0):\(parts[0])" } ?? parts[0])
                    requests.append(try chip.requestLines([offset], settings: .output(activeLow: activeLow, drive: drive),
                                                          initialValues: [value], consumer: gpiobridgeConsumer))
                }
                if let hold {
                    try await Task.sleep(for: .milliseconds(Int(hold * 1000)))
                } else {
                    for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) { break }
                }
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

    struct Monitor: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print edge events of input lines as they happen.")

        @OptionGroup var expanders: ExpanderOptions

        @Argument(help: "Lines: a name (GPIO17) or chip:offset (gpiochip0:17).")
        var lines: [String]

        @Option(help: "rising, falling or both.")
        var edge: LineEdge = .both

        @Option(help: "Pull resistor: as-is, disabled, pull-up or pull-down.")
        var bias: LineBias = .asIs

        @Option(help: "Debounce period in microseconds: in the kernel with libgpiod v2, in gpiobridge with v1.")
        var debounceUs: UInt32 = 0

        @Option(name: .customShort("n"), help: "Exit after this many events.")
        var count: Int?

        func run() async throws {
            try await reportingErrors {
                let system = try expanders.chips()
                var requests: [(name: String, request: any LineRequest)] = []
                defer { for entry in requests { entry.request.release() } }
                for specification in lines {
                    let (chip, offset) = try system.resolve(specification)
                    let settings = LineSettings.input(bias: bias, edge: edge == .none ? .both : edge,
                                                      debounceMicroseconds: debounceUs)
                    requests.append((specification, try chip.requestLines([offset], settings: settings, initialValues: nil,
                                                                          consumer: gpiobridgeConsumer)))
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
                                print("\(seconds).\(String(repeating: "0", count: 9 - fraction.count))\(fraction) \(event.rising ? "rising" : "falling") \(name)")
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
}

/// `--expander`: I²C expanders to use as chips beside the kernel's.
struct ExpanderOptions: ParsableArguments {
    @Option(name: .customLong("expander"),
            help: "Also use an I2C expander as a chip: MODEL@BUS:ADDRESS[,int=LINE], such as mcp23017@1:0x20,int=GPIO4 (repeatable).")
    var specifications: [String] = []

    func chips() throws -> GPIOChips {
        try GPIOChips.system(expanders: specifications.map(ExpanderSpecification.init(parsing:)))
    }
}

private actor EventCounter {
    private var count = 0
    func increment() -> Int {
        count += 1
        return count
    }
}

extension LineBias: ExpressibleByArgument {}
extension LineDrive: ExpressibleByArgument {}
extension LineEdge: ExpressibleByArgument {}
