/// Sensirion SHT3x or SHT4x: one measurement per read (SHT3x: single shot, high repeatability,
/// no clock stretching; SHT4x: high precision), both words checked against their CRC-8.
public final class SHT: Sensor {
    public let address: UInt8
    public let model: SensorModel
    private let bus: any I2CBus
    private let wait: SensorWait

    /// `model` is `.sht3x` or `.sht4x`.
    public init(bus: any I2CBus, address: UInt8 = 0x44, model: SensorModel, wait: @escaping SensorWait = taskSleep) {
        precondition(model == .sht3x || model == .sht4x, "SHT drives the SHT3x and the SHT4x")
        self.bus = bus
        self.address = address
        self.model = model
        self.wait = wait
    }

    public func read() async throws -> [SensorReading] {
        if model == .sht3x {
            // Command 0x2400 is two bytes on the wire, which is exactly an SMBus write-byte-data.
            try bus.writeByteData(address, register: 0x24, 0x00)
            try await wait(.microseconds(15500))  // datasheet table 4; the part NACKs reads until done
        } else {
            try bus.writeByte(address, 0xFD)
            try await wait(.microseconds(8300))  // datasheet table 5
        }
        let frame = try await readFrame()
        let humidity = model == .sht3x ? 100 * Double(frame.second) / 65535 : -6 + 125 * Double(frame.second) / 65535
        // The SHT4x formula reaches below 0 and above 100 %RH; its datasheet says to clamp.
        return [
            SensorReading(.temperature, -45 + 175 * Double(frame.first) / 65535),
            SensorReading(.humidity, min(max(humidity, 0), 100)),
        ]
    }

    /// Reads the six-byte answer (word, CRC, word, CRC) and checks both CRCs. A part still
    /// measuring NACKs; it gets one more chance after a short wait.
    private func readFrame() async throws -> (first: UInt16, second: UInt16) {
        let bytes: [UInt8]
        do {
            bytes = try bus.readBytes(address, count: 6)
        } catch I2CError.noDevice {
            try await wait(.milliseconds(5))
            do {
                bytes = try bus.readBytes(address, count: 6)
            } catch I2CError.noDevice {
                // It took the command, then never answered: a part that does not finish.
                throw SensorError.notReady(model: model, address: address)
            }
        }
        for start in [0, 3] {
            let expected = sensirionCRC8(bytes[start..<start + 2])
            guard expected == bytes[start + 2] else {
                throw SensorError.checksumMismatch(model: model, address: address, expected: expected, received: bytes[start + 2])
            }
        }
        return (UInt16(bytes[0]) << 8 | UInt16(bytes[1]), UInt16(bytes[3]) << 8 | UInt16(bytes[4]))
    }
}

/// Aosong AHT20: temperature and humidity, with the status byte and the CRC-8 the part sends.
public final class AHT20: Sensor {
    public let address: UInt8
    public var model: SensorModel { .aht20 }
    private let bus: any I2CBus
    private let wait: SensorWait

    public init(bus: any I2CBus, address: UInt8 = 0x38, wait: @escaping SensorWait = taskSleep) {
        self.bus = bus
        self.address = address
        self.wait = wait
    }

    public func read() async throws -> [SensorReading] {
        // Status bit 3 says the part loaded its calibration; if not, initialise it (0xBE 0x08 0x00).
        if try bus.readBytes(address, count: 1)[0] & 0x08 == 0 {
            try bus.writeI2CBlock(address, register: 0xBE, [0x08, 0x00])
            try await wait(.milliseconds(10))
        }
        try bus.writeI2CBlock(address, register: 0xAC, [0x33, 0x00])  // trigger a measurement
        try await wait(.milliseconds(80))  // the datasheet's measurement time
        var frame = try bus.readBytes(address, count: 7)
        var attempts = 0
        while frame[0] & 0x80 != 0 {  // busy
            attempts += 1
            guard attempts < 3 else { throw SensorError.notReady(model: .aht20, address: address) }
            try await wait(.milliseconds(10))
            frame = try bus.readBytes(address, count: 7)
        }
        let expected = sensirionCRC8(frame[0..<6])
        guard expected == frame[6] else {
            throw SensorError.checksumMismatch(model: .aht20, address: address, expected: expected, received: frame[6])
        }
        let humidity = UInt32(frame[1]) << 12 | UInt32(frame[2]) << 4 | UInt32(frame[3]) >> 4
        let temperature = UInt32(frame[3] & 0x0F) << 16 | UInt32(frame[4]) << 8 | UInt32(frame[5])
        return [
            SensorReading(.temperature, Double(temperature) / 1_048_576 * 200 - 50),
            SensorReading(.humidity, Double(humidity) / 1_048_576 * 100),
        ]
    }
}

/// ROHM BH1750: ambient light, one high-resolution measurement per read.
public final class BH1750: Sensor {
    public let address: UInt8
    public var model: SensorModel { .bh1750 }
    private let bus: any I2CBus
    private let wait: SensorWait

    public init(bus: any I2CBus, address: UInt8 = 0x23, wait: @escaping SensorWait = taskSleep) {
        self.bus = bus
        self.address = address
        self.wait = wait
    }

    public func read() async throws -> [SensorReading] {
        try bus.writeByte(address, 0x01)  // power on
        try bus.writeByte(address, 0x20)  // one-time high-resolution mode; powers down afterwards
        try await wait(.milliseconds(180))  // the datasheet's maximum for this mode
        let bytes = try bus.readBytes(address, count: 2)
        let raw = Double(UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
        // 1 count = 1/1.2 lx at the default measurement time (MTreg 69).
        return [SensorReading(.illuminance, raw / 1.2)]
    }
}
