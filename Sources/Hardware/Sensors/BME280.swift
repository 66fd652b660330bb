import Synchronization

/// Bosch BME280: temperature, humidity and pressure. Each read runs one forced-mode measurement
/// (oversampling ×1) and applies the compensation formulas of datasheet BST-BME280-DS002 §8.1.
public final class BME280: Sensor {
    public let address: UInt8
    public var model: SensorModel { .bme280 }
    private let bus: any I2CBus
    private let wait: SensorWait
    /// Read once: the trimming values are fixed at the factory.
    private let calibration = Mutex<Calibration?>(nil)

    static let chipID: UInt8 = 0x60

    public init(bus: any I2CBus, address: UInt8 = 0x76, wait: @escaping SensorWait = taskSleep) {
        self.bus = bus
        self.address = address
        self.wait = wait
    }

    public func read() async throws -> [SensorReading] {
        let calibration = try loadCalibration()
        try bus.writeByteData(address, register: 0xF2, 0x01)  // humidity ×1; applies at the next ctrl_meas write
        try bus.writeByteData(address, register: 0xF4, 0b001_001_01)  // temperature ×1, pressure ×1, forced mode
        // Datasheet §9.1: at ×1/×1/×1 a measurement takes at most 9.3 ms.
        try await wait(.milliseconds(10))
        var attempts = 0
        while try bus.readByteData(address, register: 0xF3) & 0x08 != 0 {
            attempts += 1
            guard attempts < 5 else { throw SensorError.notReady(model: .bme280, address: address) }
            try await wait(.milliseconds(2))
        }
        let data = try bus.readI2CBlock(address, register: 0xF7, count: 8)
        let raw = RawSample(
            pressure: Int32(data[0]) << 12 | Int32(data[1]) << 4 | Int32(data[2]) >> 4,
            temperature: Int32(data[3]) << 12 | Int32(data[4]) << 4 | Int32(data[5]) >> 4,
            humidity: Int32(data[6]) << 8 | Int32(data[7]))
        // 0x80000 / 0x8000 is what the part reports for a channel that was skipped or not measured.
        guard raw.temperature != 0x80000, raw.pressure != 0x80000, raw.humidity != 0x8000 else {
            throw SensorError.notReady(model: .bme280, address: address)
        }
        let compensated = calibration.compensate(raw)
        return [
            SensorReading(.temperature, compensated.celsius),
            SensorReading(.humidity, compensated.relativeHumidity),
            SensorReading(.pressure, compensated.pascals / 100),
        ]
    }

    private func loadCalibration() throws -> Calibration {
        if let cached = calibration.withLock({ $0 }) { return cached }
        let id = try bus.readByteData(address, register: 0xD0)
        guard id == Self.chipID else {
            let found = id == 0x58 ? "chip id 0x58 is a BMP280, which has no humidity sensor" : "chip id \(hexByte(id)), expected 0x60"
            throw SensorError.wrongChip(model: .bme280, address: address, found: found)
        }
        let loaded = Calibration(
            block1: try bus.readI2CBlock(address, register: 0x88, count: 26),
            block2: try bus.readI2CBlock(address, register: 0xE1, count: 7))
        calibration.withLock { $0 = loaded }
        return loaded
    }

    /// Uncompensated ADC values.
    struct RawSample {
        var pressure: Int32
        var temperature: Int32
        var humidity: Int32
    }

    /// The factory trimming values (registers 0x88...0xA1 and 0xE1...0xE7).
    struct Calibration: Sendable {
        var t1, t2, t3: Double
        var p1, p2, p3, p4, p5, p6, p7, p8, p9: Double
        var h1, h2, h3, h4, h5, h6: Double

        /// `block1` is 26 bytes from 0x88, `block2` 7 bytes from 0xE1.
        init(block1 b: [UInt8], block2 e: [UInt8]) {
            func u16(_ i: Int) -> Double { Double(UInt16(b[i]) | UInt16(b[i + 1]) << 8) }
            func s16(_ i: Int) -> Double { Double(Int16(bitPattern: UInt16(b[i]) | UInt16(b[i + 1]) << 8)) }
            t1 = u16(0)
            t2 = s16(2)
            t3 = s16(4)
            p1 = u16(6)
            p2 = s16(8)
            p3 = s16(10)
            p4 = s16(12)
            p5 = s16(14)
            p6 = s16(16)
            p7 = s16(18)
            p8 = s16(20)
            p9 = s16(22)
            h1 = Double(b[25])
            h2 = Double(Int16(bitPattern: UInt16(e[0]) | UInt16(e[1]) << 8))
            h3 = Double(e[2])
            // H4 and H5 are 12-bit values that share register 0xE5.
            h4 = Double(Int16(Int8(bitPattern: e[3])) << 4 | Int16(e[4] & 0x0F))
            h5 = Double(Int16(Int8(bitPattern: e[5])) << 4 | Int16(e[4] >> 4))
            h6 = Double(Int8(bitPattern: e[6]))
        }

        /// The double-precision compensation of datasheet §8.1.
        func compensate(_ raw: RawSample) -> (celsius: Double, pascals: Double, relativeHumidity: Double) {
            let adcT = Double(raw.temperature)
            let tempA = (adcT / 16384 - t1 / 1024) * t2
            let tempB = (adcT / 131072 - t1 / 8192) * (adcT / 131072 - t1 / 8192) * t3
            let tFine = tempA + tempB

            var var1 = tFine / 2 - 64000
            var var2 = var1 * var1 * p6 / 32768
            var2 += var1 * p5 * 2
            var2 = var2 / 4 + p4 * 65536
            var1 = (p3 * var1 * var1 / 524288 + p2 * var1) / 524288
            var1 = (1 + var1 / 32768) * p1
            var pascals = 0.0
            if var1 != 0 {  // an all-zero calibration would divide by zero
                pascals = 1_048_576 - Double(raw.pressure)
                pascals = (pascals - var2 / 4096) * 6250 / var1
                let var3 = p9 * pascals * pascals / 2_147_483_648
                let var4 = pascals * p8 / 32768
                pascals += (var3 + var4 + p7) / 16
            }

            var humidity = tFine - 76800
            humidity =
                (Double(raw.humidity) - (h4 * 64 + h5 / 16384 * humidity))
                * (h2 / 65536 * (1 + h6 / 67_108_864 * humidity * (1 + h3 / 67_108_864 * humidity)))
            humidity *= 1 - h1 * humidity / 524288
            return (tFine / 5120, pascals, min(max(humidity, 0), 100))
        }
    }
}
