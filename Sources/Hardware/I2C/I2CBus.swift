/// Why an I²C operation failed: a missing bus, a device that does not answer, a permission, or a
/// transfer error. A failed read never turns into a reading.
public enum I2CError: Error, Sendable, Hashable, CustomStringConvertible {
    case busNotFound(Int, available: [Int])
    case permissionDenied(path: String)
    /// Nothing acknowledged the address (NACK): absent, unpowered or miswired.
    case noDevice(bus: Int, address: UInt8)
    /// A kernel driver owns the address.
    case addressBusy(bus: Int, address: UInt8)
    case invalidAddress(Int)
    case transfer(bus: Int, address: UInt8, operation: String, errno: Int32, message: String)
    /// The adapter speaks only SMBus, and the device needs plain I²C reads.
    case plainReadsUnsupported(bus: Int, adapter: String)

    public var description: String {
        switch self {
        case .busNotFound(let bus, let available):
            available.isEmpty
                ? "I2C bus \(bus) does not exist: this machine has no /dev/i2c-* (load i2c-dev, enable I2C)"
                : "I2C bus \(bus) does not exist; buses: \(available.map(String.init).joined(separator: ", "))"
        case .permissionDenied(let path):
            "permission denied on \(path): add the user to the i2c group, or run as root"
        case .noDevice(let bus, let address):
            "no device answered at \(hexByte(address)) on I2C bus \(bus) (absent, unpowered or miswired?)"
        case .addressBusy(let bus, let address):
            "address \(hexByte(address)) on I2C bus \(bus) is used by a kernel driver"
        case .invalidAddress(let address):
            "\(address) is not a 7-bit I2C address (0x03...0x77)"
        case .transfer(let bus, let address, let operation, let errno, let message):
            "\(operation) at \(hexByte(address)) on I2C bus \(bus) failed: \(message) (errno \(errno))"
        case .plainReadsUnsupported(let bus, let adapter):
            "I2C bus \(bus) (\(adapter)) supports only SMBus transfers, and this device needs plain I2C reads"
        }
    }
}

/// An I²C bus with SMBus transfers and I2C-block reads, which is what the drivers use: the kernel's
/// i2c-stub supports exactly these.
public protocol I2CBus: AnyObject, Sendable {
    var number: Int { get }
    /// SMBus quick write: whether a device acknowledges `address`.
    func probe(_ address: UInt8) throws -> Bool
    func readByte(_ address: UInt8) throws -> UInt8
    func writeByte(_ address: UInt8, _ value: UInt8) throws
    func readByteData(_ address: UInt8, register: UInt8) throws -> UInt8
    func writeByteData(_ address: UInt8, register: UInt8, _ value: UInt8) throws
    /// SMBus word: low byte first on the wire.
    func readWordData(_ address: UInt8, register: UInt8) throws -> UInt16
    func writeWordData(_ address: UInt8, register: UInt8, _ value: UInt16) throws
    /// Up to 32 bytes from `register` on.
    func readI2CBlock(_ address: UInt8, register: UInt8, count: Int) throws -> [UInt8]
    func writeI2CBlock(_ address: UInt8, register: UInt8, _ bytes: [UInt8]) throws
    /// A plain read of `count` bytes with no register phase, as command-based sensors (SHT3x,
    /// SHT4x, AHT20, BH1750) answer after a command.
    func readBytes(_ address: UInt8, count: Int) throws -> [UInt8]
}

extension I2CBus {
    /// The addresses that answer, as i2cdetect scans them (0x03...0x77).
    public func scan() throws -> [UInt8] {
        try (UInt8(0x03)...UInt8(0x77)).filter { try probe($0) }
    }
}

/// Checks that `value` is a 7-bit address a device may use.
public func validI2CAddress(_ value: Int) throws -> UInt8 {
    guard (0x03...0x77).contains(value) else { throw I2CError.invalidAddress(value) }
    return UInt8(value)
}
