import Synchronization

/// An in-process I²C bus for unit tests and the demo: devices are register files (256 bytes each)
/// that a test preloads and inspects. Words are little-endian over two registers, block
/// transfers run over consecutive registers, as on most register-based sensors.
public final class SimulatedI2CBus: I2CBus {
    public let number: Int
    private let devices: Mutex<[UInt8: [UInt8]]>
    /// Writes seen, in order, for tests that check what a driver sent.
    private let writes = Mutex<[(address: UInt8, register: UInt8, bytes: [UInt8])]>([])

    public init(number: Int = 0) {
        self.number = number
        self.devices = Mutex([:])
    }

    /// Puts a device at `address` with `registers` preloaded from register 0 on (the rest 0).
    public func attach(_ address: UInt8, registers: [UInt8: UInt8] = [:]) {
        var file = [UInt8](repeating: 0, count: 256)
        for (register, value) in registers { file[Int(register)] = value }
        devices.withLock { $0[address] = file }
    }

    public func detach(_ address: UInt8) {
        _ = devices.withLock { $0.removeValue(forKey: address) }
    }

    /// Sets registers of an attached device, starting at `register`.
    public func load(_ address: UInt8, register: UInt8, _ bytes: [UInt8]) {
        devices.withLock { devices in
            for (index, byte) in bytes.enumerated() { devices[address]?[(Int(register) + index) & 0xFF] = byte }
        }
    }

    public func register(_ address: UInt8, _ register: UInt8) -> UInt8? {
        devices.withLock { $0[address]?[Int(register)] }
    }

    /// Every write so far: address, first register, bytes.
    public var writeLog: [(address: UInt8, register: UInt8, bytes: [UInt8])] { writes.withLock { $0 } }

    public func probe(_ address: UInt8) throws -> Bool {
        devices.withLock { $0[address] != nil }
    }

    public func readByte(_ address: UInt8) throws -> UInt8 {
        try readI2CBlock(address, register: 0, count: 1)[0]
    }

    public func writeByte(_ address: UInt8, _ value: UInt8) throws {
        try record(address, register: value, [])
    }

    public func readByteData(_ address: UInt8, register: UInt8) throws -> UInt8 {
        try readI2CBlock(address, register: register, count: 1)[0]
    }

    public func writeByteData(_ address: UInt8, register: UInt8, _ value: UInt8) throws {
        try writeI2CBlock(address, register: register, [value])
    }

    public func readWordData(_ address: UInt8, register: UInt8) throws -> UInt16 {
        let bytes = try readI2CBlock(address, register: register, count: 2)
        return UInt16(bytes[0]) | UInt16(bytes[1]) << 8
    }

    public func writeWordData(_ address: UInt8, register: UInt8, _ value: UInt16) throws {
        try writeI2CBlock(address, register: register, [UInt8(value & 0xFF), UInt8(value >> 8)])
    }

    public func readI2CBlock(_ address: UInt8, register: UInt8, count: Int) throws -> [UInt8] {
        try devices.withLock { devices in
            guard let file = devices[address] else { throw I2CError.noDevice(bus: number, address: address) }
            return (0..<count).map { file[(Int(register) + $0) & 0xFF] }
        }
    }

    public func writeI2CBlock(_ address: UInt8, register: UInt8, _ bytes: [UInt8]) throws {
        try record(address, register: register, bytes)
        load(address, register: register, bytes)
    }

    private func record(_ address: UInt8, register: UInt8, _ bytes: [UInt8]) throws {
        guard try probe(address) else { throw I2CError.noDevice(bus: number, address: address) }
        writes.withLock { $0.append((address, register, bytes)) }
    }
}
