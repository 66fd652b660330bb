import ArgumentParser
import Hardware

/// `gpiobridge i2c`: scan a bus and read or write registers, like i2cdetect, i2cget and i2cset.
struct I2CCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "i2c",
        abstract: "Scan I2C buses and read or write device registers (i2c-dev).",
        subcommands: [Scan.self, Get.self, Set.self]
    )

    struct Scan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show which addresses answer on a bus.")

        @Argument(help: "The bus number (N in /dev/i2c-N).")
        var bus: Int

        func run() async throws {
            try await reportingErrors {
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
                print(found.isEmpty ? "no device answered on bus \(bus)"
                                    : "found: \(found.sorted().map(hexByte).joined(separator: " "))")
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Read a byte, a register, a word or a block.")

        @Argument(help: "The bus number.") var bus: Int
        @Argument(help: "The device address, such as 0x76.") var address: HexNumber
        @Argument(help: "The register; without it, one byte is read with no register.") var register: HexNumber?
        @Flag(help: "Read a 16-bit SMBus word (low byte first).") var word = false
        @Option(help: "Read this many bytes (1-32) from the register on.") var block: Int?

        func validate() throws {
            if let block, !(1...32).contains(block) { throw ValidationError("--block takes 1 to 32 bytes") }
            if (word || block != nil) && register == nil { throw ValidationError("--word and --block need a register") }
        }

        func run() async throws {
            try await reportingErrors {
                let i2c = try LinuxI2CBus(number: bus)
                let device = try validI2CAddress(address.value)
                guard let register else {
                    print(hexByte(try i2c.readByte(device)))
                    return
                }
                let reg = UInt8(truncatingIfNeeded: register.value)
                if word {
                    print(hexWord(try i2c.readWordData(device, register: reg)))
                } else if let block {
                    print(try i2c.readI2CBlock(device, register: reg, count: block).map(hexByte).joined(separator: " "))
                } else {
                    print(hexByte(try i2c.readByteData(device, register: reg)))
                }
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a register (a byte, or a word with --word).")

        @Argument(help: "The bus number.") var bus: Int
        @Argument(help: "The device address, such as 0x76.") var address: HexNumber
        @Argument(help: "The register.") var register: HexNumber
        @Argument(help: "The value.") var value: HexNumber
        @Flag(help: "Write a 16-bit SMBus word (low byte first).") var word = false

        func validate() throws {
            guard (0...(word ? 0xFFFF : 0xFF)).contains(value.value) else {
                throw ValidationError("the value must fit in \(word ? 16 : 8) bits")
            }
            guard (0...0xFF).contains(register.value) else { throw ValidationError("a register is 0x00...0xff") }
        }

        func run() async throws {
            try await reportingErrors {
                let i2c = try LinuxI2CBus(number: bus)
                let device = try validI2CAddress(address.value)
                if word {
                    try i2c.writeWordData(device, register: UInt8(register.value), UInt16(value.value))
                } else {
                    try i2c.writeByteData(device, register: UInt8(register.value), UInt8(value.value))
                }
            }
        }
    }
}

/// A number written in hex (`0x76`) or decimal (`118`).
struct HexNumber: ExpressibleByArgument {
    let value: Int

    init?(argument: String) {
        let lowered = argument.lowercased()
        guard let value = lowered.hasPrefix("0x") ? Int(lowered.dropFirst(2), radix: 16) : Int(lowered), value >= 0 else {
            return nil
        }
        self.value = value
    }
}

func hexWord(_ value: UInt16) -> String {
    hexByte(UInt8(value >> 8)) + hexByte(UInt8(value & 0xFF)).dropFirst(2)
}
