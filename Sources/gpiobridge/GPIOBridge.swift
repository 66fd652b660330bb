import CMalloc
import Hardware
import Scheme

#if canImport(Glibc)
import Glibc
#endif

@main
enum GPIOBridge {
    static let commands = CommandGroup(
        name: "gpiobridge",
        abstract: "Drive the GPIO lines and sensors of a Linux board from MQTT.",
        children: [
            .command(PubCommand.self),
            .command(SubCommand.self),
            .group(GPIOCommand.group),
            .group(I2CCommand.group),
            .group(SensorCommand.group),
            .group(ProfileCommand.group),
            .command(AgentCommand.self),
            .command(StatusCommand.self),
            .command(ReloadCommand.self),
            .command(SimulateCommand.self),
            .command(RelayCommand.self),
            .group(FleetCommand.group),
            .group(ServiceCommand.group),
            .command(ManualCommand.self),
        ])

    /// The release, as packages and manual pages name it.
    static let releaseName = "gpiobridge \(gpiobridgeVersion)"

    static let version = "\(releaseName) (libgpiod \(LibgpiodChip.libraryVersion))"

    static func main() async {
        // One malloc arena for all threads, before the event loops start theirs: with one arena
        // each, a relay's memory for 1,000 boards was 1.7 MB larger, most of it free space.
        mallopt(M_ARENA_MAX, 1)
        let code = await CommandLineTool.run(commands, version: version, arguments: Array(CommandLine.arguments.dropFirst()))
        fflush(nil)
        exit(code)
    }
}
