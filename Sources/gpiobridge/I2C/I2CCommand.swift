import Hardware

/// `gpiobridge i2c`: scan a bus and read or write registers, like i2cdetect, i2cget and i2cset.
enum I2CCommand {
    static let group = CommandGroup(
        name: "i2c", abstract: "Scan I2C buses and read or write device registers (i2c-dev).",
        children: [.command(Scan.self), .command(Get.self), .command(Set.self)])

    static let busArgument = ArgumentSpec(name: "BUS", help: "The bus number (N in /dev/i2c-N).")
    static let addressArgument = ArgumentSpec(name: "ADDRESS", help: "The device address, such as 0x76.")

    static func bus(_ arguments: ParsedArguments) throws -> Int {
        guard let bus = Int(arguments.argument("BUS")!), bus >= 0 else { throw UsageError("BUS is a bus number, such as 1") }
        return bus
    }

    static func number(_ arguments: ParsedArguments, _ name: String) throws -> Int? {
        guard let text = arguments.argument(name) else { return nil }
        guard let value = parseNumber(text) else { throw UsageError("\(name): \"\(text)\" is not a number (0x76 or 118)") }
        return value
    }

    struct Scan: Command {
        static let name = "scan"
        static let abstract = "Show which addresses answer on a bus."
        static let arguments = [I2CCommand.busArgument]
        let bus: Int

        init(_ arguments: ParsedArguments) throws { bus = try I2CCommand.bus(arguments) }

        func run() async throws {
            let i2c = try LinuxI2CBus(number: bus)
            let found = Swift.Set(try i2c.scan())
            print("     0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f")
            for row in stride(from: 0, to: 0x80, by: 0x10) {
                var line = hexByte(UInt8(row)).dropFirst(2) + ":"
                for address in row..<(row + 0x10) {
                    if address < 0x03 || address > 0x77 {
                        line += "   "
                    } else {
                        line += found.contains(UInt8(address)) ? " " + hexByte(UInt8(address)).dropFirst(2) : " --"
                    }
                }
                print(line)
            }
            print(found.isEmpty ? "no device answered on bus \(bus)" : "found: \(found.sorted().map(hexByte).joined(separator: " "))")
        }
    }

    struct Get: Command {
        static let name = "get"
        static let abstract = "Read a byte, a register, a word or a block."
        static let options = [
            OptionSpec.flag("--word", help: "Read a 16-bit SMBus word (low byte first)."),
            .option("--block", value: "COUNT", help: "Read this many bytes (1-32) from the register on."),
        ]
        static let arguments = [
            I2CCommand.busArgument, I2CCommand.addressArgument,
            ArgumentSpec(
                name: "REGISTER", help: "The register; without it, one byte is read with no register.",
                optional: true),
        ]
        let bus: Int
        let address: UInt8
        let register: UInt8?
        let word: Bool
        let block: Int?

        init(_ arguments: ParsedArguments) throws {
            bus = try I2CCommand.bus(arguments)
            address = try validI2CAddress(try I2CCommand.number(arguments, "ADDRESS")!)
            register = try I2CCommand.number(arguments, "REGISTER").map { value in
                guard (0...0xFF).contains(value) else { throw UsageError("a register is 0x00...0xff") }
                return UInt8(value)
            }
            word = arguments.flag("--word")
            block = try arguments.value("--block", expected: "a count from 1 to 32") { Int($0).flatMap { (1...32).contains($0) ? $0 : nil } }
            if (word || block != nil) && register == nil { throw UsageError("--word and --block need a register") }
        }

        func run() async throws {
            let i2c = try LinuxI2CBus(number: bus)
            guard let register else {
                print(hexByte(try i2c.readByte(address)))
                return
            }
            if word {
                print(hexWord(try i2c.readWordData(address, register: register)))
            } else if let block {
                print(try i2c.readI2CBlock(address, register: register, count: block).map(hexByte).joined(separator: " "))
            } else {
                print(hexByte(try i2c.readByteData(address, register: register)))
            }
        }
    }

    struct Set: Command {
        static let name = "set"
        static let abstract = "Write a register (a byte, or a word with --word)."
        static let options = [OptionSpec.flag("--word", help: "Write a 16-bit SMBus word (low byte first).")]
        static let arguments = [
            I2CCommand.busArgument, I2CCommand.addressArgument,
            ArgumentSpec(name: "REGISTER", help: "The register."), ArgumentSpec(name: "VALUE", help: "The value."),
        ]
        let bus: Int
        let address: UInt8
        let register: UInt8
        let value: Int
        let word: Bool

        init(_ arguments: ParsedArguments) throws {
            bus = try I2CCommand.bus(arguments)
            address = try validI2CAddress(try I2CCommand.number(arguments, "ADDRESS")!)
            let register = try I2CCommand.number(arguments, "REGISTER")!
            guard (0...0xFF).contains(register) else { throw UsageError("a register is 0x00...0xff") }
            self.register = UInt8(register)
            word = arguments.flag("--word")
            value = try I2CCommand.number(arguments, "VALUE")!
            guard (0...(word ? 0xFFFF : 0xFF)).contains(value) else { throw UsageError("the value must fit in \(word ? 16 : 8) bits") }
        }

        func run() async throws {
            let i2c = try LinuxI2CBus(number: bus)
            if word {
                try i2c.writeWordData(address, register: register, UInt16(value))
            } else {
                try i2c.writeByteData(address, register: register, UInt8(value))
            }
        }
    }
}

/// A number written in hex (`0x76`) or decimal (`118`).
func parseNumber(_ text: String) -> Int? {
    let lowered = text.lowercased()
    guard let value = lowered.hasPrefix("0x") ? Int(lowered.dropFirst(2), radix: 16) : Int(lowered), value >= 0 else { return nil }
    return value
}

func hexWord(_ value: UInt16) -> String {
    hexByte(UInt8(value >> 8)) + hexByte(UInt8(value & 0xFF)).dropFirst(2)
}
