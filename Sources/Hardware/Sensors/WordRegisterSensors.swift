/// Texas Instruments ADS1115: one single-shot conversion of a single-ended input per read.
public final class ADS1115: Sensor {
    public let address: UInt8
    public var model: SensorModel { .ads1115 }
    public let channel: Int
    public let fullScaleVolts: Double
    private let bus: any I2CBus
    private let wait: SensorWait
    private let gainBits: UInt16

    /// The programmable gain settings: full-scale volts and their PGA bits (datasheet table 8).
    public static let ranges: [(volts: Double, bits: UInt16)] = [
        (6.144, 0b000), (4.096, 0b001), (2.048, 0b010), (1.024, 0b011), (0.512, 0b100), (0.256, 0b101),
    ]

    public init(
        bus: any I2CBus, address: UInt8 = 0x48, channel: Int = 0, fullScaleVolts: Double = 4.096,
        wait: @escaping SensorWait = taskSleep
    ) throws {
        guard (0...3).contains(channel) else {
            throw SensorError.invalidOption(model: .ads1115, detail: "channel \(channel) does not exist; use 0, 1, 2 or 3")
        }
        guard let range = Self.ranges.first(where: { $0.volts == fullScaleVolts }) else {
            let choices = Self.ranges.map { formatReading($0.volts) }.joined(separator: ", ")
            throw SensorError.invalidOption(
                model: .ads1115, detail: "full scale \(formatReading(fullScaleVolts)) V is not a gain setting; use one of \(choices)")
        }
        self.bus = bus
        self.address = address
        self.channel = channel
        self.fullScaleVolts = fullScaleVolts
        self.gainBits = range.bits
        self.wait = wait
    }

    public func read() async throws -> [SensorReading] {
        // OS=1 (start), MUX=1xx (AINx against GND), PGA, MODE=1 (single shot), 128 SPS, comparator off.
        let config: UInt16 = 0x8000 | (0b100 | UInt16(channel)) << 12 | gainBits << 9 | 0x0100 | 0b100 << 5 | 0b11
        try bus.writeWordData(address, register: 0x01, config.byteSwappedRegister)
        try await wait(.microseconds(8000))  // one conversion at 128 SPS is 7.8 ms
        var attempts = 0
        while try bus.readWordData(address, register: 0x01).byteSwappedRegister & 0x8000 == 0 {  // OS=0: converting
            attempts += 1
            guard attempts < 5 else { throw SensorError.notReady(model: .ads1115, address: address) }
            try await wait(.milliseconds(1))
        }
        let raw = Int16(bitPattern: try bus.readWordData(address, register: 0x00).byteSwappedRegister)
        return [SensorReading(.voltage, Double(raw) * fullScaleVolts / 32768)]
    }
}

/// NXP LM75 (and LM75B) or Texas Instruments TMP102: temperature from register 0.
public final class LM75: Sensor {
    public let address: UInt8
    public let model: SensorModel
    private let bus: any I2CBus

    /// `model` is `.lm75` or `.tmp102`.
    public init(bus: any I2CBus, address: UInt8 = 0x48, model: SensorModel = .lm75) {
        precondition(model == .lm75 || model == .tmp102, "LM75 drives the LM75 and the TMP102")
        self.bus = bus
        self.address = address
        self.model = model
    }

    public func read() async throws -> [SensorReading] {
        let raw = Int16(bitPattern: try bus.readWordData(address, register: 0x00).byteSwappedRegister)
        let celsius: Double
        if model == .lm75 {
            celsius = Double(raw >> 5) * 0.125  // 11 bits (LM75B); a 9-bit LM75 leaves the low bits 0
        } else if raw & 1 != 0 {
            celsius = Double(raw >> 3) * 0.0625  // TMP102 extended mode flags itself in bit 0: 13 bits
        } else {
            celsius = Double(raw >> 4) * 0.0625
        }
        return [SensorReading(.temperature, celsius)]
    }
}

/// Texas Instruments INA219: bus voltage, shunt voltage, current and power. The calibration
/// register is computed from the shunt and the largest expected current (datasheet §8.5.1).
public final class INA219: Sensor {
    public let address: UInt8
    public var model: SensorModel { .ina219 }
    private let bus: any I2CBus
    /// Amperes per count of the current register.
    let currentLSB: Double
    let calibration: UInt16

    public init(bus: any I2CBus, address: UInt8 = 0x40, shuntOhms: Double = 0.1, maxCurrentAmps: Double = 3.2) throws {
        calibration = try Self.calibration(shuntOhms: shuntOhms, maxCurrentAmps: maxCurrentAmps)
        currentLSB = maxCurrentAmps / 32768
        self.bus = bus
        self.address = address
    }

    /// The calibration register for a shunt and the largest expected current (datasheet §8.5.1):
    /// trunc(0.04096 / (current LSB × shunt)), with the current LSB = maximum / 2^15.
    public static func calibration(shuntOhms: Double, maxCurrentAmps: Double) throws -> UInt16 {
        guard shuntOhms > 0, maxCurrentAmps > 0 else {
            throw SensorError.invalidOption(model: .ina219, detail: "the shunt resistance and the maximum current must be above 0")
        }
        let value = (0.04096 / (maxCurrentAmps / 32768 * shuntOhms)).rounded(.towardZero)
        guard value >= 1, value <= 0xFFFE else {
            throw SensorError.invalidOption(
                model: .ina219,
                detail:
                    "a \(formatReading(shuntOhms)) Ω shunt at \(formatReading(maxCurrentAmps)) A needs calibration \(formatReading(value)), outside 1...65534; change the maximum current"
            )
        }
        return UInt16(value) & 0xFFFE  // bit 0 is read-only
    }

    public func read() async throws -> [SensorReading] {
        // The calibration is lost on a power cycle or reset: rewrite it when it differs.
        if try bus.readWordData(address, register: 0x05).byteSwappedRegister != calibration {
            try bus.writeWordData(address, register: 0x05, calibration.byteSwappedRegister)
        }
        let busRegister = try bus.readWordData(address, register: 0x02).byteSwappedRegister
        if busRegister & 0x0001 != 0 {
            throw SensorError.outOfRange(
                model: .ina219, address: address,
                detail: "the current or power overflowed (OVF); raise the maximum current or check the shunt")
        }
        let shunt = Int16(bitPattern: try bus.readWordData(address, register: 0x01).byteSwappedRegister)
        let power = try bus.readWordData(address, register: 0x03).byteSwappedRegister
        let current = Int16(bitPattern: try bus.readWordData(address, register: 0x04).byteSwappedRegister)
        return [
            SensorReading(.voltage, Double(busRegister >> 3) * 0.004),
            SensorReading(.shuntVoltage, Double(shunt) * 0.000_01),
            SensorReading(.current, Double(current) * currentLSB),
            SensorReading(.power, Double(power) * currentLSB * 20),
        ]
    }
}
