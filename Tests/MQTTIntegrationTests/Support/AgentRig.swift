import Agent
import Foundation
import Hardware
import Logging
import MQTT
import Profile
import Scheme
import ServiceLifecycle
import ServiceSupport
import Testing

/// An agent on a simulated chip (Raspberry Pi line names) and a simulated I²C bus, run with its
/// client in a ServiceGroup against a test broker, plus an observer subscribed to everything.
struct AgentRig: Sendable {
    let profile: Profile
    let chip: SimulatedChip
    let bus: SimulatedI2CBus
    let observer: MQTTClient
    let inbox: Inbox
    let log: CapturedLog
    let group: ServiceGroup
    let agent: Agent

    /// Reloads the agent with the profile `yaml`.
    func reload(_ yaml: String) async throws -> Result<String, ReloadError> {
        await agent.reload(try ProfileLoader.decode(yaml, file: "reloaded.yml"))
    }

    private func offset(_ name: String) throws -> Int {
        try #require((0..<chip.info.lineCount).first { (try? chip.lineInfo(offset: $0).name) == name }, "no line \(name)")
    }

    /// The physical level of a simulated line, by its name.
    func level(_ name: String) throws -> Bool {
        chip.level(offset: try offset(name))
    }

    /// Drives a simulated input from outside (nil lets its pull decide).
    func drive(_ name: String, _ level: Bool?) throws {
        chip.drive(offset: try offset(name), level: level)
    }

    func publish(_ topic: String, _ payload: String, qos: QoS = .atLeastOnce, retain: Bool = false) async throws {
        try await observer.publish(MQTTMessage(topic: topic, payload: payload, qos: qos, retain: retain))
    }

    /// Waits for a message on `topic` (with `payload`, if given) that arrived after `after` messages.
    @discardableResult
    func expectMessage(_ topic: String, _ payload: String? = nil, after: Int = 0, timeout: Duration = .seconds(10)) async throws -> MQTTMessage {
        try await inbox.expectMessage(topic, payload, after: after, timeout: timeout)
    }

    /// Payloads seen on `topic` so far, in order.
    func payloads(_ topic: String) -> [String] { inbox.messages.filter { $0.topic == topic }.map(\.payloadString) }
}

/// Runs an agent with the profile `yaml` (its broker set to `broker`) for the duration of `body`,
/// then shuts the group down gracefully and waits for it.
func withAgent(
    _ yaml: String, broker: Mosquitto, lineNames: [String] = (0...27).map { "GPIO\($0)" },
    prepare: @Sendable (SimulatedChip, SimulatedI2CBus) -> Void = { _, _ in },
    _ body: @escaping @Sendable (AgentRig) async throws -> Void
) async throws {
    let profile = try ProfileLoader.decode(yaml, file: "test.yml")
    let chip = SimulatedChip(name: "gpiochip0", lineNames: lineNames)
    let bus = SimulatedI2CBus(number: 1)
    prepare(chip, bus)
    var configuration = try Agent.clientConfiguration(for: profile, override: BrokerURL("mqtt://127.0.0.1:\(broker.ports.plain)"))
    configuration.reconnect = .exponentialBackoff(initial: .milliseconds(50), maximum: .milliseconds(400))
    let log = CapturedLog()
    let agent = try Agent(
        profile: profile, configuration: configuration, hardware: AgentHardware(chips: GPIOChips(chips: [chip]), openBus: { _ in bus }),
        logger: log.logger("agent", level: .info), clientLogger: testLogger("agent-mqtt"))
    let observer = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "observer"), logger: testLogger("observer"))
    let inbox = Inbox(observer)
    let group = ServiceGroup(configuration: .init(services: [.init(service: agent.client), .init(service: agent)], logger: testLogger("group")))
    let rig = AgentRig(profile: profile, chip: chip, bus: bus, observer: observer, inbox: inbox, log: log, group: group, agent: agent)
    try await withRunningClients([observer]) {
        _ = try await observer.subscribe([Subscription(TopicFilter("#")!, qos: .atLeastOnce)])
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await rig.expectMessage(profile.statusTopic, "online")
                // The first announcement: every state, so later waits see only what the test causes.
                for topic in profile.outputs.filter({ $0.initial != .restore }).map(\.stateTopic) + profile.inputs.map(\.stateTopic) {
                    try await rig.expectMessage(topic)
                }
                try await body(rig)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
