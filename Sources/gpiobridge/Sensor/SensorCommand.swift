import Hardware

/// `gpiobridge sensor`: read an I²C sensor once through its driver and print values with units.
enum SensorCommand {
    static let group = CommandGroup(
        name: "sensor", abstract: "Read I2C sensors through gpiobridge's drivers.",
        children: [.command(Read.self)])

    struct Read: Command {
        static let name = "read"
        static let abstract = "Take one measurement and print each value with its unit."
        static let options = [
            OptionSpec.option("--bus", value: "N", help: "The bus number (N in /dev/i2c-N)."),
            .option("--address", value: "ADDRESS", help: "The device address, such as 0x76 (default: the model's first address)."),
            .option("--channel", value: "N", help: "ads1115: the input, 0-3 (default 0)."),
            .option("--full-scale", value: "VOLTS", help: "ads1115: the full-scale range in volts (default 4.096)."),
            .option("--shunt-ohms", value: "OHMS", help: "ina219: the shunt resistor in ohms (default 0.1)."),
            .option("--max-current", value: "AMPERES", help: "ina219: the largest expected current (default 3.2)."),
        ]
        static let arguments = [ArgumentSpec(name: "MODEL", help: SensorModel.allCases.map(\.rawValue).joined(separator: ", "))]
        let model: SensorModel
        let bus: Int
        let address: UInt8?
        let options: SensorOptions

        init(_ arguments: ParsedArguments) throws {
            let name = arguments.argument("MODEL")!
            guard let model = SensorModel(rawValue: name.lowercased()) else {
                let models = SensorModel.allCases.map(\.rawValue)
                throw UsageError("no sensor model \"\(name)\"\(suggestion(name, models)); models: \(models.joined(separator: ", "))")
            }
            self.model = model
            guard let bus = try arguments.int("--bus") else { throw UsageError("missing --bus N") }
            self.bus = bus
            address = try arguments.value("--address", expected: "an address such as 0x76") { parseNumber($0) }.map(validI2CAddress)
            let defaults = SensorOptions()
            options = SensorOptions(
                channel: try arguments.int("--channel") ?? defaults.channel,
                fullScaleVolts: try arguments.double("--full-scale") ?? defaults.fullScaleVolts,
                shuntOhms: try arguments.double("--shunt-ohms") ?? defaults.shuntOhms,
                maxCurrentAmps: try arguments.double("--max-current") ?? defaults.maxCurrentAmps)
        }

        func run() async throws {
            let sensor = try makeSensor(model, bus: try LinuxI2CBus(number: bus), address: address, options: options)
            for reading in try await sensor.read() { print(reading) }
        }
    }
}
