import Synchronization

/// A device on a ``SimulatedI2CBus``, modelled at the level of I²C transactions: an SMBus call
/// becomes the same writes and reads a real adapter would put on the wire.
public protocol SimulatedI2CDevice: AnyObject, Sendable {
    /// A write transaction: the bytes after the address (register or command first).
    func write(_ bytes: [UInt8]) throws
    /// A read transaction of `count` bytes, as the device sends them.
    func read(count: Int) throws -> [UInt8]
}

/// An in-process I²C bus for unit tests and the demo. Unlike i2c-stub it is wire-faithful: SMBus
/// words travel low byte first, a register write moves the device's pointer, and plain reads
/// reach the device, so command-based sensors behave as on a real bus.
public final class SimulatedI2CBus: I2CBus {
    public let number: Int
    private let devices = Mutex<[UInt8: any SimulatedI2CDevice]>([:])
    private let writes = Mutex<[(address: UInt8, bytes: [UInt8])]>([])

    public init(number: Int = 0) {
        self.number = number
    }

    /// Puts `device` at `address`.
    public func attach(_ address: UInt8, _ device: any SimulatedI2CDevice) {
        devices.withLock { $0[address] = device }
    }

    /// Puts a register-file device at `address` with `registers` preloaded, and returns it.
    @discardableResult
    public func attach(_ address: UInt8, registers: [UInt8: UInt8] = [:]) -> RegisterFileDevice {
        let device = RegisterFileDevice(registers: registers)
        attach(address, device)
        return device
    }

    public func detach(_ address: UInt8) {
        _ = devices.withLock { $0.removeValue(forKey: address) }
    }

    /// Every write transaction so far, in order: address and bytes (register or command first).
    public var writeLog: [(address: UInt8, bytes: [UInt8])] { writes.withLock { $0 } }

    public func probe(_ address: UInt8) throws -> Bool {
        devices.withLock { $0[address] != nil }
    }

    public func readByte(_ address: UInt8) throws -> UInt8 {
        try device(address).read(count: 1)[0]
    }

    public func writeByte(_ address: UInt8, _ value: UInt8) throws {
        try write(address, [value])
    }

    public func readByteData(_ address: UInt8, register: UInt8) throws -> UInt8 {
        try readI2CBlock(address, register: register, count: 1)[0]
    }

    public func writeByteData(_ address: UInt8, register: UInt8, _ value: UInt8) throws {
        try write(address, [register, value])
    }

    public func readWordData(_ address: UInt8, register: UInt8) throws -> UInt16 {
        let bytes = try readI2CBlock(address, register: register, count: 2)
        return UInt16(bytes[0]) | UInt16(bytes[1]) << 8
    }

    public func writeWordData(_ address: UInt8, register: UInt8, _ value: UInt16) throws {
        try write(address, [register, UInt8(value & 0xFF), UInt8(value >> 8)])
    }

    public func readI2CBlock(_ address: UInt8, register: UInt8, count: Int) throws -> [UInt8] {
        let device = try device(address)
        try device.write([register])
        return try device.read(count: count)
    }

    public func writeI2CBlock(_ address: UInt8, register: UInt8, _ bytes: [UInt8]) throws {
        try write(address, [register] + bytes)
    }

    public func readBytes(_ address: UInt8, count: Int) throws -> [UInt8] {
        try device(address).read(count: count)
    }

    private func write(_ address: UInt8, _ bytes: [UInt8]) throws {
        let device = try device(address)
        writes.withLock { $0.append((address, bytes)) }
        try device.write(bytes)
    }

    private func device(_ address: UInt8) throws -> any SimulatedI2CDevice {
        guard let device = devices.withLock({ $0[address] }) else { throw I2CError.noDevice(bus: number, address: address) }
        return device
    }
}

/// A device with 256 byte registers and an auto-incrementing pointer (BME280, MCP23017, most
/// sensors): a write sets the pointer and stores what follows; a read continues from the pointer.
public final class RegisterFileDevice: SimulatedI2CDevice {
    private let state: Mutex<(registers: [UInt8], pointer: Int)>

    public init(registers: [UInt8: UInt8] = [:]) {
        var file = [UInt8](repeating: 0, count: 256)
        for (register, value) in registers { file[Int(register)] = value }
        state = Mutex((file, 0))
    }

    /// Sets registers from `register` on, as the hardware would (no write is logged).
    public func load(_ register: UInt8, _ bytes: [UInt8]) {
        state.withLock { state in
            for (index, byte) in bytes.enumerated() { state.registers[(Int(register) + index) & 0xFF] = byte }
        }
    }

    public func register(_ register: UInt8) -> UInt8 {
        state.withLock { $0.registers[Int(register)] }
    }

    public func write(_ bytes: [UInt8]) throws {
        guard let first = bytes.first else { return }
        state.withLock { state in
            state.pointer = Int(first)
            for byte in bytes.dropFirst() {
                state.registers[state.pointer] = byte
                state.pointer = (state.pointer + 1) & 0xFF
            }
        }
    }

    public func read(count: Int) throws -> [UInt8] {
        state.withLock { state in
            (0..<count).map { _ in
                defer { state.pointer = (state.pointer + 1) & 0xFF }
                return state.registers[state.pointer]
            }
        }
    }
}

/// A device with 16-bit registers sent most significant byte first behind a pointer (ADS1115,
/// LM75, TMP102, INA219).
public final class WordRegisterDevice: SimulatedI2CDevice {
    private let state: Mutex<(registers: [UInt8: UInt16], pointer: UInt8)>

    public init(registers: [UInt8: UInt16] = [:]) {
        state = Mutex((registers, 0))
    }

    public func load(_ register: UInt8, _ value: UInt16) {
        state.withLock { $0.registers[register] = value }
    }

    public func register(_ register: UInt8) -> UInt16 {
        state.withLock { $0.registers[register] ?? 0 }
    }

    public func write(_ bytes: [UInt8]) throws {
        guard let pointer = bytes.first else { return }
        state.withLock { state in
            state.pointer = pointer
            if bytes.count >= 3 { state.registers[pointer] = UInt16(bytes[1]) << 8 | UInt16(bytes[2]) }
        }
    }

    public func read(count: Int) throws -> [UInt8] {
        state.withLock { state in
            let value = state.registers[state.pointer] ?? 0
            return (0..<count).map { $0 % 2 == 0 ? UInt8(value >> 8) : UInt8(value & 0xFF) }
        }
    }
}
