import ArgumentParser

@main
struct GPIOBridge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpiobridge",
        abstract: "Drive the GPIO lines and sensors of a Linux board from MQTT.",
        subcommands: [PubCommand.self, SubCommand.self]
    )
}
