import ArgumentParser
import Hardware

/// `gpiobridge sensor`: read an I²C sensor once through its driver and print values with units.
struct SensorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sensor",
        abstract: "Read I2C sensors through gpiobridge's drivers.",
        subcommands: [Read.self]
    )

    struct Read: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take one measurement and print each value with its unit.")

        @Argument(help: "The sensor model, such as bme280.") var model: SensorModel
        @Option(help: "The bus number (N in /dev/i2c-N).") var bus: Int
        @Option(help: "The device address, such as 0x76 (default: the model's first address).") var address: HexNumber?
        @Option(help: "ads1115: the input, 0-3.") var channel: Int = 0
        @Option(help: "ads1115: the full-scale range in volts.") var fullScale: Double = 4.096
        @Option(help: "ina219: the shunt resistor in ohms.") var shuntOhms: Double = 0.1
        @Option(help: "ina219: the largest expected current in amperes.") var maxCurrent: Double = 3.2

        func run() async throws {
            try await reportingErrors {
                let i2c = try LinuxI2CBus(number: bus)
                let device = try address.map { try validI2CAddress($0.value) }
                let options = SensorOptions(channel: channel, fullScaleVolts: fullScale, shuntOhms: shuntOhms, maxCurrentAmps: maxCurrent)
                let sensor = try makeSensor(model, bus: i2c, address: device, options: options)
                for reading in try await sensor.read() { print(reading) }
            }
        }
    }
}

extension SensorModel: ExpressibleByArgument {}
