import CI2C
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An I²C bus through the kernel's i2c-dev (`/dev/i2c-N`) and libi2c.
public final class LinuxI2CBus: I2CBus {
    public let number: Int
    public let path: String
    /// The adapter's name from sysfs, such as `bcm2835 (i2c@7e804000)` or `SMBus stub driver`.
    public let adapterName: String
    private let descriptor: Mutex<Int32>
    private let plainReads: PlainReads

    /// How ``readBytes(_:count:)`` reaches the device.
    private enum PlainReads {
        /// `read()` on the device file: what real adapters do.
        case native
        /// The kernel's i2c-stub has no plain transfers. Tests seed a command sensor's reply at
        /// cell 0x00 and it is read back with an I2C-block read: not wire-identical, test-only.
        case stubMailbox
        case unsupported
    }

    /// Opens `/dev/i2c-<number>`.
    public init(number: Int) throws {
        let path = "/dev/i2c-\(number)"
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            let error = errno
            if error == ENOENT { throw I2CError.busNotFound(number, available: Self.busNumbers()) }
            if error == EACCES || error == EPERM { throw I2CError.permissionDenied(path: path) }
            throw I2CError.transfer(
                bus: number, address: 0, operation: "opening \(path)", errno: error,
                message: String(cString: strerror(error)))
        }
        self.number = number
        self.path = path
        self.descriptor = Mutex(fd)
        self.adapterName = Self.adapterName(bus: number)
        var functionality: UInt = 0
        if gb_i2c_functionality(fd, &functionality) == 0, functionality & GB_I2C_FUNC_I2C != 0 {
            plainReads = .native
        } else {
            plainReads = adapterName == "SMBus stub driver" ? .stubMailbox : .unsupported
        }
    }

    private static func adapterName(bus: Int) -> String {
        let fd = open("/sys/class/i2c-dev/i2c-\(bus)/name", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "i2c-\(bus)" }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = read(fd, &buffer, buffer.count)
        guard count > 0 else { return "i2c-\(bus)" }
        return String(decoding: buffer[..<count], as: UTF8.self).trimmingTrailingNewlines()
    }

    deinit {
        descriptor.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    /// The numbers of the buses under /dev, in order.
    public static func busNumbers() -> [Int] {
        guard let directory = opendir("/dev") else { return [] }
        defer { closedir(directory) }
        var numbers: [Int] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasPrefix("i2c-"), let number = Int(name.dropFirst(4)) { numbers.append(number) }
        }
        return numbers.sorted()
    }

    public func probe(_ address: UInt8) throws -> Bool {
        do {
            // i2cdetect's choice: a read for EEPROM ranges (a quick write could corrupt some), else quick write.
            if (0x30...0x37).contains(address) || (0x50...0x5F).contains(address) {
                _ = try transfer(address, "probe") { i2c_smbus_read_byte($0) }
            } else {
                _ = try transfer(address, "probe") { i2c_smbus_write_quick($0, UInt8(I2C_SMBUS_WRITE)) }
            }
            return true
        } catch I2CError.noDevice {
            return false
        } catch I2CError.addressBusy {
            return true
        }
    }

    public func readByte(_ address: UInt8) throws -> UInt8 {
        UInt8(truncatingIfNeeded: try transfer(address, "read byte") { i2c_smbus_read_byte($0) })
    }

    public func writeByte(_ address: UInt8, _ value: UInt8) throws {
        _ = try transfer(address, "write byte") { i2c_smbus_write_byte($0, value) }
    }

    public func readByteData(_ address: UInt8, register: UInt8) throws -> UInt8 {
        UInt8(
            truncatingIfNeeded: try transfer(address, "read register \(hexByte(register))") {
                i2c_smbus_read_byte_data($0, register)
            })
    }

    public func writeByteData(_ address: UInt8, register: UInt8, _ value: UInt8) throws {
        _ = try transfer(address, "write register \(hexByte(register))") { i2c_smbus_write_byte_data($0, register, value) }
    }

    public func readWordData(_ address: UInt8, register: UInt8) throws -> UInt16 {
        UInt16(
            truncatingIfNeeded: try transfer(address, "read word \(hexByte(register))") {
                i2c_smbus_read_word_data($0, register)
            })
    }

    public func writeWordData(_ address: UInt8, register: UInt8, _ value: UInt16) throws {
        _ = try transfer(address, "write word \(hexByte(register))") { i2c_smbus_write_word_data($0, register, value) }
    }

    public func readI2CBlock(_ address: UInt8, register: UInt8, count: Int) throws -> [UInt8] {
        precondition((1...32).contains(count), "I2C block reads carry 1 to 32 bytes")
        var bytes = [UInt8](repeating: 0, count: count)
        let read = try transfer(address, "read \(count) bytes from \(hexByte(register))") {
            i2c_smbus_read_i2c_block_data($0, register, UInt8(count), &bytes)
        }
        guard read == count else {
            throw I2CError.transfer(
                bus: number, address: address, operation: "read \(count) bytes from \(hexByte(register))",
                errno: EIO, message: "short read of \(read) bytes")
        }
        return bytes
    }

    public func writeI2CBlock(_ address: UInt8, register: UInt8, _ bytes: [UInt8]) throws {
        precondition((1...32).contains(bytes.count), "I2C block writes carry 1 to 32 bytes")
        _ = try transfer(address, "write \(bytes.count) bytes to \(hexByte(register))") {
            i2c_smbus_write_i2c_block_data($0, register, UInt8(bytes.count), bytes)
        }
    }

    public func readBytes(_ address: UInt8, count: Int) throws -> [UInt8] {
        precondition((1...32).contains(count), "plain reads carry 1 to 32 bytes")
        switch plainReads {
        case .native:
            var bytes = [UInt8](repeating: 0, count: count)
            let read = try transfer(address, "read \(count) bytes") { fd in Int32(Glibc.read(fd, &bytes, count)) }
            guard read == count else {
                throw I2CError.transfer(
                    bus: number, address: address, operation: "read \(count) bytes", errno: EIO,
                    message: "short read of \(read) bytes")
            }
            return bytes
        case .stubMailbox:
            return try readI2CBlock(address, register: 0x00, count: count)
        case .unsupported:
            throw I2CError.plainReadsUnsupported(bus: number, adapter: adapterName)
        }
    }

    /// Addresses the device and runs one transfer; a NACK becomes ``I2CError/noDevice(bus:address:)``.
    private func transfer(_ address: UInt8, _ operation: String, _ body: (Int32) -> Int32) throws -> Int32 {
        let (result, error) = descriptor.withLock { fd -> (Int32, Int32) in
            if gb_i2c_set_address(fd, Int32(address)) < 0 { return (-1, errno) }
            let result = body(fd)
            return (result, result < 0 ? errno : 0)
        }
        guard result >= 0 else {
            switch error {
            // A NACK: ENXIO or EREMOTEIO from real adapters, ENODEV from i2c-stub.
            case ENXIO, EREMOTEIO, ENODEV: throw I2CError.noDevice(bus: number, address: address)
            case EBUSY: throw I2CError.addressBusy(bus: number, address: address)
            default:
                throw I2CError.transfer(
                    bus: number, address: address, operation: operation, errno: error,
                    message: String(cString: strerror(error)))
            }
        }
        return result
    }
}

extension String {
    fileprivate func trimmingTrailingNewlines() -> String {
        var text = Substring(self)
        while text.last == "\n" || text.last == "\r" { text = text.dropLast() }
        return String(text)
    }
}
