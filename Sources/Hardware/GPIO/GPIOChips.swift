#if canImport(Glibc)
import Glibc
#endif

/// The kernel's GPIO chips (`/dev/gpiochip*`) and how a line is named: by the kernel's line name
/// (`GPIO17`), or by chip and offset (`gpiochip0:17`, `0:17`, `/dev/gpiochip0:17`).
public struct GPIOChips: Sendable {
    public let chips: [any GPIOChip]

    public init(chips: [any GPIOChip]) {
        self.chips = chips
    }

    /// Opens every chip under /dev, then the I²C expanders in `expanders`, whose INT lines are
    /// found among the kernel's chips.
    public static func system(devicePrefix: String = "/dev/gpiochip", expanders: [ExpanderSpecification] = []) throws
        -> GPIOChips
    {
        let kernel = GPIOChips(chips: try chipPaths(devicePrefix: devicePrefix).map { try LibgpiodChip(path: $0) })
        var buses: [Int: LinuxI2CBus] = [:]
        var chips = kernel.chips
        for expander in expanders {
            let bus = try buses[expander.bus] ?? LinuxI2CBus(number: expander.bus)
            buses[expander.bus] = bus
            let interrupt = try expander.interruptLine.map { try kernel.resolve($0) }
            chips.append(I2CExpanderChip(model: expander.model, bus: bus, address: expander.address, interrupt: interrupt))
        }
        return GPIOChips(chips: chips)
    }

    /// `/dev/gpiochip0`, `/dev/gpiochip1`, ... in numeric order.
    public static func chipPaths(devicePrefix: String = "/dev/gpiochip") -> [String] {
        let slash = devicePrefix.lastIndex(of: "/")!
        let directory = String(devicePrefix[..<slash])
        let prefix = String(devicePrefix[devicePrefix.index(after: slash)...])
        guard let handle = opendir(directory.isEmpty ? "/" : directory) else { return [] }
        defer { closedir(handle) }
        var numbers: [Int] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasPrefix(prefix), let number = Int(name.dropFirst(prefix.count)) { numbers.append(number) }
        }
        return numbers.sorted().map { "\(directory)/\(prefix)\($0)" }
    }

    /// The chip called `name`: `gpiochip0`, `0`, `/dev/gpiochip0`, or its label.
    public func chip(named name: String) throws -> any GPIOChip {
        let wanted = name.hasPrefix("/") ? name : (Int(name) != nil ? "gpiochip\(name)" : name)
        if let chip = chips.first(where: { $0.info.path == wanted || $0.info.name == wanted || $0.info.label == wanted }) {
            return chip
        }
        throw GPIOError.chipNotFound(name, available: chips.map { "\($0.info.name) [\($0.info.label)]" })
    }

    /// Finds the line a specification names, checking names across all chips.
    public func resolve(_ specification: String) throws -> (chip: any GPIOChip, offset: Int) {
        if let colon = specification.lastIndex(of: ":") {
            let chipPart = String(specification[..<colon])
            guard let offset = Int(specification[specification.index(after: colon)...]), offset >= 0, !chipPart.isEmpty else {
                throw GPIOError.invalidLineSpecification(specification)
            }
            let chip = try chip(named: chipPart)
            guard offset < chip.info.lineCount else {
                throw GPIOError.offsetOutOfRange(chip: chip.info.name, offset: offset, lineCount: chip.info.lineCount)
            }
            return (chip, offset)
        }
        guard !specification.isEmpty else { throw GPIOError.invalidLineSpecification(specification) }
        guard !chips.isEmpty else { throw GPIOError.noChips }
        var matches: [(any GPIOChip, Int)] = []
        var named: [String] = []
        for chip in chips {
            for line in try chip.allLines() where !line.name.isEmpty {
                named.append(line.name)
                if line.name == specification { matches.append((chip, line.offset)) }
            }
        }
        switch matches.count {
        case 1: return matches[0]
        case 0: throw GPIOError.lineNotFound(specification, available: named)
        default: throw GPIOError.ambiguousLineName(specification, matches: matches.map { "\($0.0.info.name):\($0.1)" })
        }
    }
}
