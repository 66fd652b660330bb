import Foundation
import Logging
import MQTT
import Profile
import Relay
import Scheme
import ServiceLifecycle
import ServiceSupport

/// A relay run with its clients in a ServiceGroup against test brokers, plus an observer on the
/// fleet broker subscribed to everything.
struct RelayRig: Sendable {
    let fleetObserver: MQTTClient
    let inbox: Inbox

    func publish(_ topic: String, _ payload: String, qos: QoS = .atLeastOnce) async throws {
        try await fleetObserver.publish(MQTTMessage(topic: topic, payload: payload, qos: qos))
    }

    @discardableResult
    func expectMessage(_ topic: String, _ payload: String? = nil, after: Int = 0, timeout: Duration = .seconds(10)) async throws -> MQTTMessage {
        try await inbox.expectMessage(topic, payload, after: after, timeout: timeout)
    }

    var seen: Int { inbox.messages.count }
    /// Every message seen on the fleet broker, in order.
    var seenMessages: [MQTTMessage] { inbox.messages }
}

/// Runs the relay profile `yaml` with the fleet on `fleet` and the boards on `boards` (the fleet's
/// broker when nil) for the duration of `body`, then shuts it down gracefully and waits for it.
/// With `asWritten`, the profile's own broker settings are used (for TLS and passwords).
/// `afterStop` sees the observer's messages once the relay has stopped.
func withRelay(
    _ yaml: String, fleet: Mosquitto, boards: Mosquitto? = nil, asWritten: Bool = false, logger: Logger = testLogger("relay"),
    backlog: (pauseAt: Int, resumeAt: Int) = (10_000, 1_000),
    _ body: @escaping @Sendable (RelayRig) async throws -> Void,
    afterStop: @escaping @Sendable (Inbox) async throws -> Void = { _ in }
) async throws {
    let profile = try ProfileLoader.decodeRelay(yaml, file: "relay.yml")
    var configurations =
        asWritten
        ? try RelayService.clientConfigurations(for: profile)
        : try RelayService.clientConfigurations(
            for: profile, fleetOverride: BrokerURL("mqtt://127.0.0.1:\(fleet.ports.plain)"),
            boardsOverride: boards.flatMap { BrokerURL("mqtt://127.0.0.1:\($0.ports.plain)") })
    let fast = MQTTReconnectPolicy.exponentialBackoff(initial: .milliseconds(50), maximum: .milliseconds(400))
    configurations.fleet.reconnect = fast
    configurations.boards?.reconnect = fast
    let relay = try RelayService(
        profile: profile, configurations: configurations, logger: logger, clientLogger: testLogger("relay-mqtt"), backlog: backlog)
    let services = relay.services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
    let group = ServiceGroup(configuration: .init(services: services, logger: testLogger("relay-group")))
    let observer = try MQTTClient(configuration: clientConfiguration(port: fleet.ports.plain, "fleet-observer"), logger: testLogger("observer"))
    let inbox = Inbox(observer)
    let rig = RelayRig(fleetObserver: observer, inbox: inbox)
    try await withRunningClients([observer]) {
        _ = try await observer.subscribe([Subscription(TopicFilter("#")!, qos: .atLeastOnce)])
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await rig.expectMessage("gpiobridge/\(profile.id)/status", "online")
                try await body(rig)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try await afterStop(inbox)
    }
}
