import Hardware
import Logging
import MQTT
import NIOCore
import NIOPosix
import Profile
import Scheme
import ServiceLifecycle
import ServiceSupport

/// The agent: drives a profile's outputs from MQTT commands, publishes states, inputs, sensor
/// readings and periodic values, announces availability and Home Assistant discovery, and keeps
/// outputs safe when the broker is gone or the agent stops. ``reload(_:)`` moves it to a new
/// profile while it runs, keeping the connection and every line whose configuration is the same.
///
/// The agent lives on its client's event loop: the client hands it each message as it is decoded,
/// and the agent drives the line and hands the new state back to the session in the same turn of
/// the loop. Its logic is an ``AgentCore``; its line I/O an ``AgentLines``.
///
/// It is a `Service`. Run it in one `ServiceGroup` after its ``client``, so that on shutdown it
/// publishes `offline` and sets the safe states before the client disconnects.
public final class Agent: Service, Sendable {
    /// The agent's connection to the broker; it delivers to the agent only.
    public let client: MQTTClient
    private let runner: NIOLoopBoundBox<AgentRunner?>
    private let profile: Profile

    /// An agent for `profile` whose client connects with `configuration` (see
    /// ``clientConfiguration(for:override:)``). A missing or bad TLS file fails here.
    public init(
        profile: Profile, configuration: MQTTClientConfiguration, hardware: AgentHardware, logger: Logger, clientLogger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        let loop = eventLoopGroup.next()
        let runner = NIOLoopBoundBox<AgentRunner?>.makeEmptyBox(valueType: AgentRunner.self, eventLoop: loop)
        self.runner = runner
        self.profile = profile
        let client = try MQTTClient(
            configuration: configuration, eventLoopGroup: loop, logger: clientLogger,
            delivery: MQTTDelivery(
                message: { message in runner.value?.received(message) },
                connection: { state in runner.value?.connectionChanged(state) }))
        self.client = client
        // Queued before the client can connect: the runner is there for the first delivery.
        loop.execute { runner.value = AgentRunner(profile: profile, client: client, hardware: hardware, logger: logger) }
    }

    /// The will the client must carry: `offline`, retained, on the status topic.
    public static func will(for profile: Profile) -> WillMessage {
        profile.topics.will
    }

    /// The client configuration for `profile`: its broker (or `override`), the password from its
    /// source, a persistent session when the profile keeps one, and the `offline` will.
    public static func clientConfiguration(for profile: Profile, override: BrokerURL? = nil) throws(PasswordError)
        -> MQTTClientConfiguration
    {
        try BrokerSettings.clientConfiguration(profile.broker, will: will(for: profile), override: override)
    }

    /// What the agent is doing now, for `gpiobridge status`. Once the agent has stopped, the last
    /// state it had, with no line held.
    public func status() async -> AgentStatus {
        let runner = self.runner
        return (try? await client.eventLoop.submit { runner.value!.status }.get()) ?? AgentStatus(profile: profile)
    }

    /// Moves the running agent to `profile`. Lines whose configuration did not change keep their
    /// state; the MQTT connection stays. On failure the agent keeps the profile it had.
    public func reload(_ profile: Profile) async -> Result<String, ReloadError> {
        let runner = self.runner
        return (try? await client.eventLoop.submit { runner.value!.reload(profile) }.get()) ?? .failure(ReloadError("the agent has stopped"))
    }

    /// Returns once the agent's event loop has run it: the loop turns and is not stuck (for
    /// READY=1 and the systemd watchdog).
    public func ping() async {
        await LoopService.ping(client.eventLoop)
    }

    /// Requests the lines and runs until graceful shutdown or cancellation, then sets the safe
    /// states, publishes `offline` (waiting at most 2 s for the broker) and gives the lines back.
    /// Throws ``AgentStartError`` when the lines cannot be had.
    public func run() async throws {
        let runner = self.runner
        try await LoopService.run(on: client.eventLoop, start: { try runner.value!.start() }, stop: { runner.value!.stop() })
    }
}
