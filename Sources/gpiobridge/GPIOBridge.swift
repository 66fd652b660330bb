import ArgumentParser
import Hardware

@main
struct GPIOBridge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpiobridge",
        abstract: "Drive the GPIO lines and sensors of a Linux board from MQTT.",
        version: "gpiobridge 0.1.0 (libgpiod \(LibgpiodChip.libraryVersion))",
        subcommands: [PubCommand.self, SubCommand.self, GPIOCommand.self, I2CCommand.self, SensorCommand.self]
    )
}
