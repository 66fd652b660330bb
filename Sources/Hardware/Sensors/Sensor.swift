/// A physical quantity a sensor measures, with the unit gpiobridge publishes it in.
public enum SensorQuantity: String, Sendable, Hashable, CaseIterable {
    case temperature
    case humidity
    case pressure
    case illuminance
    case voltage
    case shuntVoltage = "shunt_voltage"
    case current
    case power

    /// The unit of published values (Home Assistant's units for these device classes).
    public var unit: String {
        switch self {
        case .temperature: "°C"
        case .humidity: "%"
        case .pressure: "hPa"
        case .illuminance: "lx"
        case .voltage, .shuntVoltage: "V"
        case .current: "A"
        case .power: "W"
        }
    }
}

/// One measured value.
public struct SensorReading: Sendable, Hashable, CustomStringConvertible {
    public var quantity: SensorQuantity
    public var value: Double

    public init(_ quantity: SensorQuantity, _ value: Double) {
        self.quantity = quantity
        self.value = value
    }

    /// `temperature 25.08 °C`.
    public var description: String { "\(quantity.rawValue) \(formatReading(value)) \(quantity.unit)" }
}

/// A sensor on an I²C bus. Each ``read()`` starts a fresh measurement where the part has one
/// and returns its values; a failed read throws and never yields a made-up value.
public protocol Sensor: AnyObject, Sendable {
    var model: SensorModel { get }
    var address: UInt8 { get }
    func read() async throws -> [SensorReading]
}

extension Sensor {
    /// What ``read()`` returns, in order.
    public var quantities: [SensorQuantity] { model.quantities }
}

/// The sensor parts gpiobridge has drivers for.
public enum SensorModel: String, Sendable, Hashable, CaseIterable {
    case bme280
    case bh1750
    case sht3x
    case sht4x
    case aht20
    case ads1115
    case lm75
    case tmp102
    case ina219

    /// The addresses the part can be strapped to; the first is its default.
    public var addresses: [UInt8] {
        switch self {
        case .bme280: [0x76, 0x77]
        case .bh1750: [0x23, 0x5C]
        case .sht3x: [0x44, 0x45]
        case .sht4x: [0x44, 0x45, 0x46]
        case .aht20: [0x38]
        case .ads1115: [0x48, 0x49, 0x4A, 0x4B]
        case .lm75: Array(0x48...0x4F)
        case .tmp102: [0x48, 0x49, 0x4A, 0x4B]
        case .ina219: Array(0x40...0x4F)
        }
    }

    public var defaultAddress: UInt8 { addresses[0] }

    /// What the model's driver reports, in order.
    public var quantities: [SensorQuantity] {
        switch self {
        case .bme280: [.temperature, .humidity, .pressure]
        case .bh1750: [.illuminance]
        case .sht3x, .sht4x, .aht20: [.temperature, .humidity]
        case .ads1115: [.voltage]
        case .lm75, .tmp102: [.temperature]
        case .ina219: [.voltage, .shuntVoltage, .current, .power]
        }
    }
}

/// Settings some drivers take; the others ignore them.
public struct SensorOptions: Sendable, Hashable {
    /// ADS1115: the single-ended input, 0...3.
    public var channel: Int
    /// ADS1115: the full-scale range in volts (6.144, 4.096, 2.048, 1.024, 0.512 or 0.256).
    public var fullScaleVolts: Double
    /// INA219: the shunt resistor in ohms.
    public var shuntOhms: Double
    /// INA219: the largest current expected, in amperes; it sets the current resolution.
    public var maxCurrentAmps: Double

    public init(channel: Int = 0, fullScaleVolts: Double = 4.096, shuntOhms: Double = 0.1, maxCurrentAmps: Double = 3.2) {
        self.channel = channel
        self.fullScaleVolts = fullScaleVolts
        self.shuntOhms = shuntOhms
        self.maxCurrentAmps = maxCurrentAmps
    }
}

/// Why a sensor gave no reading.
public enum SensorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bytes arrived, but their checksum is wrong: a disturbed bus or a loose wire.
    case checksumMismatch(model: SensorModel, address: UInt8, expected: UInt8, received: UInt8)
    /// Something answers at the address, but it is not this part.
    case wrongChip(model: SensorModel, address: UInt8, found: String)
    /// The measurement did not finish in the time the datasheet allows.
    case notReady(model: SensorModel, address: UInt8)
    /// The value is outside what the part can measure with these settings.
    case outOfRange(model: SensorModel, address: UInt8, detail: String)
    case invalidOption(model: SensorModel, detail: String)

    public var description: String {
        switch self {
        case .checksumMismatch(let model, let address, let expected, let received):
            "\(model.rawValue) at \(hexByte(address)): CRC mismatch (computed \(hexByte(expected)), received \(hexByte(received))); check wiring and pull-ups"
        case .wrongChip(let model, let address, let found):
            "the device at \(hexByte(address)) is not a \(model.rawValue): \(found)"
        case .notReady(let model, let address):
            "\(model.rawValue) at \(hexByte(address)) did not finish its measurement in time"
        case .outOfRange(let model, let address, let detail):
            "\(model.rawValue) at \(hexByte(address)): \(detail)"
        case .invalidOption(let model, let detail):
            "\(model.rawValue): \(detail)"
        }
    }
}

/// Waits between a sensor command and its result. Drivers take it so tests can check the
/// datasheet's conversion times without sleeping.
public typealias SensorWait = @Sendable (Duration) async throws -> Void

/// Sleeps on the task, which blocks no thread.
public let taskSleep: SensorWait = { try await Task.sleep(for: $0) }

/// Makes the driver for `model` at `address` on `bus`.
public func makeSensor(
    _ model: SensorModel, bus: any I2CBus, address: UInt8? = nil, options: SensorOptions = SensorOptions(),
    wait: @escaping SensorWait = taskSleep
) throws -> any Sensor {
    let address = address ?? model.defaultAddress
    switch model {
    case .bme280: return BME280(bus: bus, address: address, wait: wait)
    case .bh1750: return BH1750(bus: bus, address: address, wait: wait)
    case .sht3x, .sht4x: return SHT(bus: bus, address: address, model: model, wait: wait)
    case .aht20: return AHT20(bus: bus, address: address, wait: wait)
    case .ads1115: return try ADS1115(bus: bus, address: address, channel: options.channel, fullScaleVolts: options.fullScaleVolts, wait: wait)
    case .lm75: return LM75(bus: bus, address: address, model: .lm75)
    case .tmp102: return LM75(bus: bus, address: address, model: .tmp102)
    case .ina219: return try INA219(bus: bus, address: address, shuntOhms: options.shuntOhms, maxCurrentAmps: options.maxCurrentAmps)
    }
}

/// `0x5a`: bytes, addresses and registers as i2c-tools print them.
public func hexByte(_ value: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return "0x" + String([digits[Int(value >> 4)], digits[Int(value & 0x0F)]])
}

/// A reading with at most three decimals and no trailing zeros: `25.08`, `1006.533`, `-55`. A
/// value too large for that (a profile's `1e300`) or not finite is written as Swift writes it.
public func formatReading(_ value: Double) -> String {
    let scaled = (value * 1000).rounded()
    // Converting a Double beyond Int64's range traps.
    guard scaled.isFinite, abs(scaled) < 9e18 else { return "\(value)" }
    let negative = scaled < 0
    let magnitude = Int64(abs(scaled))
    var text = String(magnitude / 1000)
    var fraction = String(magnitude % 1000)
    if fraction != "0" {
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        text += "." + fraction
    }
    return negative && magnitude != 0 ? "-" + text : text
}

/// Sensirion's CRC-8 (SHT3x, SHT4x, AHT20): polynomial 0x31, initial value 0xFF, no reflection.
public func sensirionCRC8<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt8 {
    var crc: UInt8 = 0xFF
    for byte in bytes {
        crc ^= byte
        for _ in 0..<8 { crc = crc & 0x80 != 0 ? (crc << 1) ^ 0x31 : crc << 1 }
    }
    return crc
}

extension UInt16 {
    /// SMBus words arrive low byte first; registers of these parts are most significant byte first.
    var byteSwappedRegister: UInt16 { (self << 8) | (self >> 8) }
}
