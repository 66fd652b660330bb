import Logging
import MQTT
import NIOCore
import NIOPosix
import Profile
import Scheme
import ServiceLifecycle
import ServiceSupport

/// The relay: mirrors a relay profile's ESP8266 boards into the gpiobridge topic scheme, both
/// ways, on one broker or two (the boards' and the fleet's). All state lives in a ``RelayCore`` on
/// its clients' event loop: both clients hand it their messages and connection changes there as
/// they decode them, with no thread hop, and one timer on that loop follows the core's next
/// deadline.
///
/// A command is mirrored in the socket read that brought it, and its answer leaves in that read's
/// flush. A flood (retained announcements of a thousand boards) does not stall the loop: past a
/// millisecond of work per turn, messages wait in a ``TurnInbox`` worked off between reads, so
/// the clients keep acknowledging (a broker sends a subscriber only a few unacknowledged messages
/// at once, stock Mosquitto 20, and drops beyond 1,000 queued). A backlog of 10,000 pauses reading
/// until it is down to 1,000.
///
/// It is a `Service`. Run it in one `ServiceGroup` after its clients (``services`` lists them in
/// order), so that on shutdown it reports every board and itself offline before they disconnect.
public final class RelayService: Service, Sendable {
    /// The client of the fleet's broker.
    public let fleet: MQTTClient
    /// The client of the boards' broker; nil when the boards live on the fleet's.
    public let boards: MQTTClient?
    private let runner: NIOLoopBoundBox<RelayRunner?>
    private let loop: any EventLoop

    /// A relay whose clients connect with `configurations` (see
    /// ``clientConfigurations(for:fleetOverride:boardsOverride:)``). A bad TLS file fails here.
    /// When `backlog.pauseAt` messages wait to be mirrored, reading from the brokers pauses until
    /// `backlog.resumeAt` are left.
    public init(
        profile: RelayProfile, configurations: (fleet: MQTTClientConfiguration, boards: MQTTClientConfiguration?),
        logger: Logger, clientLogger: Logger, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        backlog: (pauseAt: Int, resumeAt: Int) = (10_000, 1_000)
    ) throws {
        let loop = eventLoopGroup.next()
        let runner = NIOLoopBoundBox<RelayRunner?>.makeEmptyBox(valueType: RelayRunner.self, eventLoop: loop)
        self.runner = runner
        self.loop = loop
        let fleet = try MQTTClient(
            configuration: configurations.fleet, eventLoopGroup: loop, logger: clientLogger,
            delivery: MQTTDelivery(
                message: { message in runner.value?.receive(.fleetMessage(message)) },
                connection: { state in runner.value?.receive(.fleetConnection(state)) }))
        let boards = try configurations.boards.map {
            try MQTTClient(
                configuration: $0, eventLoopGroup: loop, logger: clientLogger,
                delivery: MQTTDelivery(
                    message: { message in runner.value?.receive(.boardsMessage(message)) },
                    connection: { state in runner.value?.receive(.boardsConnection(state)) }))
        }
        self.fleet = fleet
        self.boards = boards
        // Queued before either client can connect: the runner hears the first delivery.
        loop.execute {
            runner.value = RelayRunner(profile: profile, fleet: fleet, boards: boards, loop: loop, logger: logger, backlog: backlog)
        }
    }

    /// The services to run, in order: the clients, then the relay.
    public var services: [any Service] { [fleet] + (boards.map { [$0] } ?? []) + [self] }

    /// The will the fleet client must carry: the relay's `offline`, retained. Boards it mirrors
    /// name the relay in their info (`via`), and Home Assistant sees them unavailable with it.
    public static func will(for profile: RelayProfile) -> WillMessage {
        DeviceTopics(device: profile.id).will
    }

    /// The clients a relay profile needs: the fleet's, and the boards' when they live elsewhere.
    public static func clientConfigurations(for profile: RelayProfile, fleetOverride: BrokerURL? = nil, boardsOverride: BrokerURL? = nil)
        throws(PasswordError) -> (fleet: MQTTClientConfiguration, boards: MQTTClientConfiguration?)
    {
        let fleet = try BrokerSettings.clientConfiguration(profile.fleet, will: will(for: profile), override: fleetOverride)
        var boards: MQTTClientConfiguration?
        if let settings = profile.boardsBroker {
            boards = try BrokerSettings.clientConfiguration(settings, will: nil, override: boardsOverride)
        } else if let boardsOverride {
            boards = try BrokerSettings.clientConfiguration(profile.fleet, will: nil, override: boardsOverride)
            boards?.clientID += "-boards"
        }
        return (fleet, boards)
    }

    /// Returns once the event loop has run it (READY=1 and the systemd watchdog).
    public func ping() async {
        await LoopService.ping(loop)
    }

    /// Subscribes and runs until graceful shutdown or cancellation, then reports every board and
    /// itself offline, waiting at most 2 s for the fleet broker's acknowledgement.
    public func run() async throws {
        let runner = self.runner
        try await LoopService.run(on: loop, start: { runner.value!.start() }, stop: { runner.value!.stop() })
    }
}
