import Hardware
import Synchronization
import Testing

/// Records the waits a driver asks for instead of sleeping.
final class WaitRecorder: Sendable {
    private let waits = Mutex<[Duration]>([])
    var recorded: [Duration] { waits.withLock { $0 } }
    var total: Duration { recorded.reduce(.zero, +) }
    var wait: SensorWait { { duration in self.waits.withLock { $0.append(duration) } } }
}

/// A command-driven part (SHT3x, SHT4x, AHT20, BH1750): each command it knows arms the reply that
/// its next plain reads return; reads before any command NACK, as a busy part does.
final class CommandDevice: SimulatedI2CDevice {
    private let state: Mutex<(replies: [[UInt8]: [UInt8]], armed: [UInt8]?, nacksLeft: Int, commands: [[UInt8]])>

    init(replies: [[UInt8]: [UInt8]], initial: [UInt8]? = nil, nacksAfterCommand: Int = 0) {
        state = Mutex((replies, initial, nacksAfterCommand, []))
    }

    var commands: [[UInt8]] { state.withLock { $0.commands } }

    func write(_ bytes: [UInt8]) throws {
        state.withLock { state in
            state.commands.append(bytes)
            if let reply = state.replies[bytes] { state.armed = reply }
        }
    }

    func read(count: Int) throws -> [UInt8] {
        try state.withLock { state in
            if state.nacksLeft > 0 {
                state.nacksLeft -= 1
                throw I2CError.noDevice(bus: 0, address: 0)
            }
            guard let armed = state.armed else { throw I2CError.noDevice(bus: 0, address: 0) }
            return Array(armed.prefix(count))
        }
    }
}

func values(_ readings: [SensorReading]) -> [SensorQuantity: Double] {
    Dictionary(uniqueKeysWithValues: readings.map { ($0.quantity, $0.value) })
}

@Suite("Sensor drivers against datasheet examples")
struct SensorTests {
    @Test("Sensirion CRC-8: the datasheet example CRC(0xBEEF) = 0x92")
    func crc() {
        #expect(sensirionCRC8([0xBE, 0xEF]) == 0x92)
        #expect(sensirionCRC8([0x66, 0x66]) == 0x93)
    }

    /// BMP280 datasheet §3.12's worked example, with humidity calibration zero.
    @Test("BME280: the BMP280 datasheet's worked example gives 25.08 °C and 100653.27 Pa")
    func bme280DatasheetExample() async throws {
        let bus = SimulatedI2CBus(number: 1)
        let chip = bus.attach(0x76, registers: [0xD0: 0x60])
        var calibration: [UInt8] = []
        for value in [27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000] {
            let bits = UInt16(truncatingIfNeeded: value)
            calibration += [UInt8(bits & 0xFF), UInt8(bits >> 8)]
        }
        chip.load(0x88, calibration)
        // adc_P = 415148 (0x655AC), adc_T = 519888 (0x7EED0), each a 20-bit value over three registers.
        chip.load(0xF7, [0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x00, 0x00])
        let recorder = WaitRecorder()
        let sensor = BME280(bus: bus, address: 0x76, wait: recorder.wait)
        let reading = values(try await sensor.read())
        #expect(abs(reading[.temperature]! - 25.0825) < 0.0005)
        #expect(abs(reading[.pressure]! - 1006.5327) < 0.0005)
        #expect(chip.register(0xF2) == 0x01, "humidity oversampling ×1")
        #expect(chip.register(0xF4) == 0x25, "T ×1, P ×1, forced mode")
        #expect(recorder.total >= .microseconds(9300), "datasheet §9.1: up to 9.3 ms at ×1")
    }

    @Test("BME280: a register dump from Bosch's forum gives 24.44 °C, 54.172 %RH, 99621.27 Pa")
    func bme280RegisterDump() async throws {
        let bus = SimulatedI2CBus()
        bus.attachBME280(at: 0x77)
        let reading = values(try await BME280(bus: bus, address: 0x77, wait: WaitRecorder().wait).read())
        #expect(abs(reading[.temperature]! - 24.44) < 0.005)
        #expect(abs(reading[.humidity]! - 54.172) < 0.001)
        #expect(abs(reading[.pressure]! - 996.2127) < 0.0005)
    }

    @Test("BME280: a BMP280 or another chip is named, not read")
    func bme280WrongChip() async {
        let bus = SimulatedI2CBus()
        bus.attach(0x76, registers: [0xD0: 0x58])
        await #expect(
            throws: SensorError.wrongChip(
                model: .bme280, address: 0x76,
                found: "chip id 0x58 is a BMP280, which has no humidity sensor")
        ) {
            try await BME280(bus: bus, wait: WaitRecorder().wait).read()
        }
    }

    @Test("SHT3x: command 0x2400, 15.5 ms, then 0x6666 is 25 °C and 0x8000 is 50 %RH")
    func sht3x() async throws {
        let bus = SimulatedI2CBus()
        let part = CommandDevice(replies: [[0x24, 0x00]: [0x66, 0x66, 0x93, 0x80, 0x00, sensirionCRC8([0x80, 0x00])]])
        bus.attach(0x44, part)
        let recorder = WaitRecorder()
        let reading = values(try await SHT(bus: bus, model: .sht3x, wait: recorder.wait).read())
        #expect(part.commands == [[0x24, 0x00]])
        #expect(recorder.total >= .microseconds(15500))
        #expect(abs(reading[.temperature]! - 25.0) < 0.0005)
        #expect(abs(reading[.humidity]! - 50.0008) < 0.0005)
    }

    @Test("SHT3x: a part still measuring NACKs once and is read on the retry")
    func sht3xBusy() async throws {
        let bus = SimulatedI2CBus()
        bus.attach(0x45, CommandDevice(replies: [[0x24, 0x00]: [0x66, 0x66, 0x93, 0x66, 0x66, 0x93]], nacksAfterCommand: 1))
        let reading = values(try await SHT(bus: bus, address: 0x45, model: .sht3x, wait: WaitRecorder().wait).read())
        #expect(abs(reading[.temperature]! - 25.0) < 0.0005)
    }

    @Test(
        "SHT3x: a corrupted word is a CRC error, not a reading",
        arguments: [
            [UInt8]([0x66, 0x67, 0x93, 0x80, 0x00, 0xA2]), [0x66, 0x66, 0x93, 0x80, 0x01, 0xA2],
        ])
    func sht3xCRC(frame: [UInt8]) async {
        let bus = SimulatedI2CBus()
        bus.attach(0x44, CommandDevice(replies: [[0x24, 0x00]: frame]))
        await #expect(throws: SensorError.self) { try await SHT(bus: bus, model: .sht3x, wait: WaitRecorder().wait).read() }
        #expect(
            "\(SensorError.checksumMismatch(model: .sht3x, address: 0x44, expected: 0x93, received: 0x94))"
                == "sht3x at 0x44: CRC mismatch (computed 0x93, received 0x94); check wiring and pull-ups")
    }

    @Test("SHT4x: command 0xFD, 8.3 ms; RH = -6 + 125·S/65535, clamped to 0...100")
    func sht4x() async throws {
        let bus = SimulatedI2CBus()
        let part = CommandDevice(replies: [[0xFD]: [0x66, 0x66, 0x93, 0x80, 0x00, sensirionCRC8([0x80, 0x00])]])
        bus.attach(0x44, part)
        let recorder = WaitRecorder()
        let reading = values(try await SHT(bus: bus, model: .sht4x, wait: recorder.wait).read())
        #expect(part.commands == [[0xFD]])
        #expect(recorder.total >= .microseconds(8300))
        #expect(abs(reading[.temperature]! - 25.0) < 0.0005)
        #expect(abs(reading[.humidity]! - 56.501) < 0.001)
        bus.attach(0x44, CommandDevice(replies: [[0xFD]: [0x66, 0x66, 0x93, 0x00, 0x00, sensirionCRC8([0x00, 0x00])]]))
        #expect(values(try await SHT(bus: bus, model: .sht4x, wait: WaitRecorder().wait).read())[.humidity] == 0)
    }

    @Test("AHT20: 1C 26 9A 76 42 E7 76 is 28.267 °C and 15.079 %RH")
    func aht20() async throws {
        let bus = SimulatedI2CBus()
        let part = CommandDevice(replies: [[0xAC, 0x33, 0x00]: [0x1C, 0x26, 0x9A, 0x76, 0x42, 0xE7, 0x76]], initial: [0x1C])
        bus.attach(0x38, part)
        let recorder = WaitRecorder()
        let reading = values(try await AHT20(bus: bus, wait: recorder.wait).read())
        #expect(part.commands == [[0xAC, 0x33, 0x00]], "calibrated already: no 0xBE initialisation")
        #expect(recorder.total >= .milliseconds(80))
        #expect(abs(reading[.temperature]! - 28.267) < 0.0005)
        #expect(abs(reading[.humidity]! - 15.079) < 0.0005)
    }

    @Test("AHT20: an uncalibrated part is initialised with BE 08 00 first; a bad CRC is an error")
    func aht20Initialisation() async throws {
        let bus = SimulatedI2CBus()
        let part = CommandDevice(replies: [[0xAC, 0x33, 0x00]: [0x1C, 0x26, 0x9A, 0x76, 0x42, 0xE7, 0x77]], initial: [0x10])
        bus.attach(0x38, part)
        await #expect(throws: SensorError.checksumMismatch(model: .aht20, address: 0x38, expected: 0x76, received: 0x77)) {
            try await AHT20(bus: bus, wait: WaitRecorder().wait).read()
        }
        #expect(part.commands == [[0xBE, 0x08, 0x00], [0xAC, 0x33, 0x00]])
    }

    @Test("BH1750: power on, one-time H-resolution, 180 ms; 0x8390 is 28067 lx")
    func bh1750() async throws {
        let bus = SimulatedI2CBus()
        let part = CommandDevice(replies: [[0x20]: [0x83, 0x90]])
        bus.attach(0x23, part)
        let recorder = WaitRecorder()
        let reading = values(try await BH1750(bus: bus, wait: recorder.wait).read())
        #expect(part.commands == [[0x01], [0x20]])
        #expect(recorder.total >= .milliseconds(180))
        #expect(abs(reading[.illuminance]! - 28066.667) < 0.001)
    }

    @Test(
        "ADS1115: single-shot config, and the datasheet's codes at ±2.048 V and ±4.096 V",
        arguments: [(2.048, UInt16(0x4000), 1.024), (4.096, 0x1900, 0.8), (4.096, 0x8000, -4.096), (0.256, 0x7FFF, 0.25599)])
    func ads1115(fullScale: Double, code: UInt16, volts: Double) async throws {
        let bus = SimulatedI2CBus()
        let part = WordRegisterDevice(registers: [0x00: code])
        bus.attach(0x48, part)
        let reading = values(try await ADS1115(bus: bus, channel: 2, fullScaleVolts: fullScale, wait: WaitRecorder().wait).read())
        #expect(abs(reading[.voltage]! - volts) < 0.00001)
        let config = part.register(0x01)
        #expect(config >> 15 == 1, "OS: start a conversion")
        #expect(config >> 12 & 0b111 == 0b110, "MUX: AIN2 against GND")
        #expect(config >> 8 & 1 == 1, "single-shot mode")
        #expect(config & 0b11 == 0b11, "comparator off")
    }

    @Test("ADS1115: a channel or gain that does not exist is refused")
    func ads1115Options() {
        #expect(throws: SensorError.self) { try ADS1115(bus: SimulatedI2CBus(), channel: 4) }
        #expect(throws: SensorError.self) { try ADS1115(bus: SimulatedI2CBus(), fullScaleVolts: 3.3) }
    }

    @Test(
        "LM75: 11-bit two's complement in 0.125 °C steps",
        arguments: [
            (UInt16(0x1900), 25.0), (0xE700, -25.0), (0xC900, -55.0), (0x7D00, 125.0), (0x0020, 0.125), (0xFFE0, -0.125),
        ])
    func lm75(register: UInt16, celsius: Double) async throws {
        let bus = SimulatedI2CBus()
        bus.attach(0x48, WordRegisterDevice(registers: [0x00: register]))
        #expect(values(try await LM75(bus: bus, model: .lm75).read())[.temperature] == celsius)
    }

    @Test(
        "TMP102: 12-bit in 0.0625 °C steps, and 13-bit extended mode flagged in bit 0",
        arguments: [
            (UInt16(0x1900), 25.0), (0xE700, -25.0), (0xC900, -55.0), (0x0010, 0.0625), (0x4B01, 150.0), (0x0C81, 25.0),
        ])
    func tmp102(register: UInt16, celsius: Double) async throws {
        let bus = SimulatedI2CBus()
        bus.attach(0x48, WordRegisterDevice(registers: [0x00: register]))
        #expect(values(try await LM75(bus: bus, model: .tmp102).read())[.temperature] == celsius)
    }

    @Test("INA219: datasheet table 3 (2 mΩ, calibration 0x5000) gives 11.98 V, 10 A, 119.8 W")
    func ina219() async throws {
        let bus = SimulatedI2CBus()
        let part = WordRegisterDevice(registers: [0x01: 0x07D0, 0x02: 0x5D98, 0x03: 0x1766, 0x04: 0x2710])
        bus.attach(0x40, part)
        let sensor = try INA219(bus: bus, shuntOhms: 0.002, maxCurrentAmps: 32.768)
        let reading = values(try await sensor.read())
        #expect(part.register(0x05) == 0x5000)
        #expect(abs(reading[.voltage]! - 11.98) < 0.00001)
        #expect(abs(reading[.shuntVoltage]! - 0.02) < 0.00001)
        #expect(abs(reading[.current]! - 10.0) < 0.00001)
        #expect(abs(reading[.power]! - 119.8) < 0.00001)
    }

    @Test("INA219: an overflow is an error, not a value")
    func ina219Overflow() async throws {
        let bus = SimulatedI2CBus()
        bus.attach(0x40, WordRegisterDevice(registers: [0x02: 0x5D99]))
        await #expect(throws: SensorError.self) { try await INA219(bus: bus).read() }
    }

    @Test("an absent sensor is a NACK error for every model", arguments: SensorModel.allCases)
    func absent(model: SensorModel) async throws {
        let sensor = try makeSensor(model, bus: SimulatedI2CBus(number: 2), wait: WaitRecorder().wait)
        await #expect(throws: I2CError.noDevice(bus: 2, address: model.defaultAddress)) { try await sensor.read() }
    }

    @Test("readings print with units and at most three decimals")
    func formatting() {
        #expect("\(SensorReading(.temperature, 25.0825))" == "temperature 25.083 °C")
        #expect("\(SensorReading(.pressure, 1006.5))" == "pressure 1006.5 hPa")
        #expect("\(SensorReading(.temperature, -55))" == "temperature -55 °C")
        #expect("\(SensorReading(.voltage, -0.0001))" == "voltage 0 V")
    }
}
