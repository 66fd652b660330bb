import NIOCore
import Hardware
import JSON
import Logging
import MQTT
import Profile
import Scheme
import ServiceLifecycle
import Synchronization

/// Where the agent finds its hardware: the GPIO chips (kernel, expanders or simulated) and a way
/// to open I²C buses.
public struct AgentHardware: Sendable {
    public var chips: GPIOChips
    public var openBus: @Sendable (Int) throws -> any I2CBus

    public init(chips: GPIOChips, openBus: @escaping @Sendable (Int) throws -> any I2CBus) {
        self.chips = chips
        self.openBus = openBus
    }

    /// The machine's kernel chips, the profile's expanders, and /dev/i2c-N.
    public static func system(expanders: [ExpanderSettings]) throws -> AgentHardware {
        let chips = try GPIOChips.system(expanders: expanders.map(\.specification))
        return AgentHardware(chips: chips, openBus: { try LinuxI2CBus(number: $0) })
    }
}

/// Why the agent could not start: each problem located in the profile where possible.
public struct AgentStartError: Error, Sendable, CustomStringConvertible {
    public var problems: [String]

    public var description: String { problems.joined(separator: "\n") }
}

/// The agent: drives a profile's outputs from MQTT commands, publishes states, inputs, sensor
/// readings and periodic values, announces availability and Home Assistant discovery, and keeps
/// outputs safe when the broker is gone or the agent stops. ``reload(_:)`` moves it to a new
/// profile while it runs, keeping the connection and every line whose configuration is the same.
///
/// It is a `Service`. Run it in one `ServiceGroup` after its ``MQTTClient``, so that on shutdown
/// it publishes `offline` and sets the safe states before the client disconnects.
public final class Agent: Service, Sendable {
    private let client: MQTTClient
    private let hardware: AgentHardware
    private let logger: Logger
    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    private let initialProfile: Profile
    private let snapshot: Mutex<AgentStatus>
    private let states: StateOutbox

    /// What the agent's single loop reacts to; everything that changes state passes through it.
    enum Event: Sendable {
        case message(MQTTMessage)
        case connection(MQTTConnectionState)
        case edge(input: String, EdgeEvent)
        case pulseEnded(output: String, generation: Int)
        case graceExpired(epoch: Int)
        case restoreWindowEnded
        case logWindowEnded
        case refreshInfo
        case reload(Profile, CheckedContinuation<Result<String, ReloadError>, Never>)
        case ping(CheckedContinuation<Void, Never>)
        case status(CheckedContinuation<AgentStatus, Never>)
        case shutdown
    }

    public init(profile: Profile, client: MQTTClient, hardware: AgentHardware, logger: Logger) {
        self.initialProfile = profile
        self.client = client
        self.hardware = hardware
        self.logger = logger
        (events, eventSink) = AsyncStream.makeStream(of: Event.self)
        snapshot = Mutex(AgentStatus(profile: profile))
        states = StateOutbox(client: client)
    }

    /// The will the client must carry: `offline`, retained, on the status topic.
    public static func will(for profile: Profile) -> WillMessage {
        WillMessage(topic: profile.statusTopic, payload: ByteBuffer(string: "offline"), qos: .atLeastOnce, retain: true)
    }

    /// How long outputs with `initial: restore` wait for their retained state before starting off.
    static let restoreWindow = Duration.seconds(2)

    /// What the agent is doing now, for `gpiobridge status`: asked of its event loop, so nothing
    /// is recorded per event. Once the agent has stopped, the last state it recorded.
    public func status() async -> AgentStatus {
        await withCheckedContinuation { continuation in
            if case .terminated = eventSink.yield(.status(continuation)) { continuation.resume(returning: snapshot.withLock { $0 }) }
        }
    }

    /// Moves the running agent to `profile`. Lines whose configuration did not change keep their
    /// state; the MQTT connection stays. On failure the agent keeps the profile it had.
    public func reload(_ profile: Profile) async -> Result<String, ReloadError> {
        await withCheckedContinuation { continuation in
            if case .terminated = eventSink.yield(.reload(profile, continuation)) {
                continuation.resume(returning: .failure(ReloadError("the agent has stopped")))
            }
        }
    }

    /// Returns once the agent's event loop has handled it: the loop runs and is not stuck (for
    /// READY=1 and the systemd watchdog).
    public func ping() async {
        await withCheckedContinuation { continuation in
            if case .terminated = eventSink.yield(.ping(continuation)) { continuation.resume() }
        }
    }

    public func run() async throws {
        var iterator = events.makeAsyncIterator()
        var state: AgentState
        do {
            state = try AgentState(profile: initialProfile, hardware: hardware)
        } catch {
            await stopLoop(&iterator)
            throw error
        }
        defer { state.releaseAll() }
        let sink = eventSink
        let timers = Timers(sink: sink)
        let workers = Workers()
        defer {
            timers.cancelAll()
            workers.cancelAll()
        }
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { [client] in
                    for await message in client.messages { sink.yield(.message(message)) }
                }
                tasks.addTask { [client] in
                    for await connection in client.connectionStates() { sink.yield(.connection(connection)) }
                }
                tasks.addTask {
                    while true {
                        try await Task.sleep(for: DeviceInfo.refreshInterval)
                        sink.yield(.refreshInfo)
                    }
                }
                if state.awaitingRestore {
                    tasks.addTask {
                        try await Task.sleep(for: Self.restoreWindow)
                        sink.yield(.restoreWindowEnded)
                    }
                }
                try startWorkers(for: state, inputs: state.profile.inputs.map(\.name), workers)
                subscribe(Self.subscriptions(state.profile) + state.restoreTopics.compactMap {
                    TopicFilter($0).map { Subscription($0, qos: .atLeastOnce) }
                })
                record(state)
                logger.info("agent started", metadata: ["device": "\(state.profile.device.id)", "profile": "\(state.profile.source)"])
                while let event = await iterator.next() {
                    if case .shutdown = event {
                        await shutdown(&state, timers: timers)
                        break
                    }
                    handle(event, &state, timers: timers, workers: workers)
                }
                await stopLoop(&iterator)
                tasks.cancelAll()
            }
        } onGracefulShutdown: { [eventSink] in
            eventSink.yield(.shutdown)
        }
    }

    /// Ends the event loop; whoever still waits on it is answered that the agent has stopped.
    private func stopLoop(_ iterator: inout AsyncStream<Event>.Iterator) async {
        eventSink.finish()
        while let event = await iterator.next() {
            switch event {
            case .ping(let reply): reply.resume()
            case .reload(_, let reply): reply.resume(returning: .failure(ReloadError("the agent has stopped")))
            case .status(let reply): reply.resume(returning: snapshot.withLock { $0 })
            default: break
            }
        }
    }

    // MARK: Events

    private func handle(_ event: Event, _ state: inout AgentState, timers: Timers, workers: Workers) {
        switch event {
        case .message(let message):
            handle(message, &state, timers: timers)
        case .connection(let connection):
            snapshot.withLock { $0.connection = connection.description }
            if connection.isConnected {
                timers.cancelGrace()
                announce(state)
            } else if case .stopped = connection {
                break
            } else if !timers.graceRunning, let grace = state.profile.safety.brokerGraceMilliseconds {
                timers.startGrace(after: .milliseconds(grace))
            }
        case .edge(let name, let edge):
            guard let input = state.profile.inputs.first(where: { $0.name == name }), state.inputLevels[name] != nil else { return }
            state.inputLevels[name] = edge.rising
            states.publish(input.stateTopic, edge.rising ? input.onPayload : input.offPayload)
        case .pulseEnded(let name, let generation):
            apply(state.controller.pulseEnded(name, generation: generation), &state, timers: timers)
        case .graceExpired(let epoch):
            guard timers.isCurrentGrace(epoch) else { return }
            logger.warning("no broker for \(state.profile.safety.brokerGraceMilliseconds ?? 0) ms: outputs go to their safe states")
            apply(state.controller.enterSafeStates(), &state, timers: timers)
        case .restoreWindowEnded:
            finishRestore(&state)
        case .logWindowEnded:
            timers.logWindowEnded()
            for summary in state.logLimiter.expire(at: .now) {
                logger.warning("\(summary.suppressed) more lines like this were left out of the log in the last \(state.logLimiter.window)",
                               metadata: ["kind": "\(summary.key)"])
            }
            if let next = state.logLimiter.nextDeadline { timers.wakeForLog(at: next) }
        case .refreshInfo:
            publishInfo(state.profile)
        case .reload(let profile, let reply):
            reply.resume(returning: reload(to: profile, &state, timers: timers, workers: workers))
        case .ping(let reply):
            reply.resume()
        case .status(let reply):
            record(state)
            reply.resume(returning: snapshot.withLock { $0 })
        case .shutdown:
            break
        }
    }

    private func handle(_ message: MQTTMessage, _ state: inout AgentState, timers: Timers) {
        let profile = state.profile
        if let size = message.skippedPacketSize {
            // The client skipped it unread and acknowledged it; the log has its line already.
            let error = CommandRefusal.oversized(size: size, limit: client.configuration.maximumPacketSize)
            noteError("\(message.topic): \(error)")
            send(profile.errorTopic, JSONValue.object(["topic": .string(message.topic), "error": .string(error)]).serialized, retain: false)
            return
        }
        if let output = profile.outputs.first(where: { $0.commandTopic == message.topic }) {
            // A command from the broker's retained store was not sent now: it would move the line
            // at every start (a heater switching on after a reboot). MQTT 5 subscriptions ask the
            // broker not to send one; this catches 3.1.1 and other subscriptions that match.
            if message.retain {
                refuseRetained(message.topic, &state)
                return
            }
            do {
                let command = try OutputCommand(payload: message.payloadString)
                guard state.outputLines[output.name] != nil else {
                    throw CommandError("\(output.name) is still waiting for its retained state", hint: "try again in a moment")
                }
                // A command that parsed is at most 1024 bytes; the log handler escapes it.
                logger.info("command", metadata: ["output": "\(output.name)", "payload": "\(message.payloadString)"])
                apply(state.controller.handle(command, for: output.name), &state, timers: timers)
            } catch {
                refuse(profile, topic: message.topic, payload: message.payloadString, because: error, &state, timers: timers)
            }
            return
        }
        if state.awaitingRestore, let output = profile.outputs.first(where: { $0.stateTopic == message.topic && $0.initial == .restore }) {
            let payload = message.payloadString.uppercased()
            if payload == "ON" || payload == "OFF" {
                state.restored[output.name] = payload == "ON"
            } else if message.payload.readableBytes > 0 {
                // Not a state this agent wrote: the output starts off rather than guess.
                logger.warning("the retained state cannot be restored: it is neither ON nor OFF; the output starts off",
                               metadata: ["output": "\(output.name)", "topic": "\(message.topic)",
                                          "payload": "\(leadingBytes(of: message.payloadString))", "payload_bytes": "\(message.payload.readableBytes)"])
                report(profile, source: output.name, error: "the retained state on \(message.topic), \(quotedExcerpt(message.payloadString)), is neither ON nor OFF; \(output.name) starts off")
                state.restored[output.name] = false
            }
            let restoring = profile.outputs.filter { $0.initial == .restore }
            if restoring.allSatisfy({ state.restored[$0.name] != nil }) { finishRestore(&state) }
            return
        }
        if profile.discovery.enabled, message.topic == Discovery(profile: profile).homeAssistantStatusTopic,
           message.payloadString == "online" {
            logger.info("Home Assistant is online: sending discovery and states again")
            announce(state)
            return
        }
        if let subscription = profile.subscriptions.first(where: { $0.filter.matches(message.topic) }),
           admitLogLine("message \(subscription.filter)", burst: Self.messageLinesPerWindow, &state, timers: timers) {
            logger.info("message", metadata: ["topic": "\(message.topic)", "payload": "\(leadingBytes(of: message.payloadString))",
                                              "payload_bytes": "\(message.payload.readableBytes)"])
        }
    }

    /// Carries out the controller's actions in order, stopping at the first drive that fails.
    private func apply(_ actions: [OutputController.Action], _ state: inout AgentState, timers: Timers) {
        for (index, action) in actions.enumerated() {
            switch action {
            case .drive(let name, let on):
                do {
                    guard let line = state.outputLines[name] else { throw CommandError("\(name) has no line yet") }
                    try line.setValues([on])
                } catch {
                    state.controller.driveFailed(name, skipped: Array(actions[(index + 1)...]))
                    logger.error("cannot drive \(name): \(error)")
                    report(state.profile, source: name, error: "cannot drive the line: \(error)")
                    return
                }
            case .publish(let name, let on):
                if let output = state.profile.outputs.first(where: { $0.name == name }) { states.publish(output.stateTopic, on ? "ON" : "OFF") }
            case .startPulse(let name, let milliseconds, let generation):
                timers.startPulse(name, after: .milliseconds(milliseconds), generation: generation)
            case .cancelPulse(let name):
                timers.cancelPulse(name)
            }
        }
    }

    /// Requests the outputs that waited for their retained state, at that state (else off).
    private func finishRestore(_ state: inout AgentState) {
        guard state.awaitingRestore else { return }
        do {
            try state.requestRestoredOutputs()
        } catch {
            logger.error("cannot request restored outputs: \(error)")
            report(state.profile, source: "agent", error: "\(error)")
        }
        let topics = state.restoreTopics.compactMap { TopicFilter($0) }
        Task { [client] in _ = try? await client.unsubscribe(topics) }
        announce(state)
    }

    private func reload(to new: Profile, _ state: inout AgentState, timers: Timers, workers: Workers) -> Result<String, ReloadError> {
        let old = state.profile
        guard new.broker == old.broker else {
            return .failure(ReloadError("the broker settings changed: restart the agent to connect with them (systemctl restart gpiobridge)"))
        }
        guard new.device == old.device else {
            return .failure(ReloadError("the device id, name or base topic changed: restart the agent, since its will and status topic change"))
        }
        let changes: AgentState.Changes
        do {
            changes = try state.reconfigure(to: new, hardware: hardware)
        } catch {
            logger.error("reload refused; keeping \(old.source)", metadata: ["reason": "\(error)"])
            return .failure(ReloadError("\(error)"))
        }
        for name in changes.changed + changes.removed { timers.cancelPulse(name) }
        for name in changes.inputsToStop { workers.cancel("input:\(name)") }
        for sensor in old.sensors { workers.cancel("sensor:\(sensor.name)") }
        for publisher in old.publishers { workers.cancel("publisher:\(publisher.name)") }
        do {
            try startWorkers(for: state, inputs: changes.inputsToWatch, workers)
        } catch {
            logger.error("cannot watch inputs after the reload: \(error)")
        }
        let oldFilters = Set(Self.subscriptions(old).map(\.filter))
        let newSubscriptions = Self.subscriptions(new)
        let gone = oldFilters.subtracting(newSubscriptions.map(\.filter))
        if !gone.isEmpty { Task { [client] in _ = try? await client.unsubscribe(Array(gone)) } }
        subscribe(newSubscriptions.filter { !oldFilters.contains($0.filter) })
        // Home Assistant drops the components that are gone, and entities that stayed keep their ids.
        let discovery = Discovery(profile: new)
        if new.discovery.enabled {
            states.publish(discovery.configTopic, discovery.config(removing: discovery.removedComponents(since: Discovery(profile: old))).serialized)
        } else if old.discovery.enabled {
            states.publish(discovery.configTopic, "")
        }
        // What is gone leaves no retained state behind.
        for output in old.outputs where changes.removed.contains(output.name) { states.publish(output.stateTopic, "") }
        for input in old.inputs where changes.removed.contains(input.name) { states.publish(input.stateTopic, "") }
        for output in new.outputs where changes.added.contains(output.name) || changes.changed.contains(output.name) {
            states.publish(output.stateTopic, state.controller.isOn(output.name) == true ? "ON" : "OFF")
        }
        for input in new.inputs where changes.inputsToWatch.contains(input.name) {
            if let level = state.inputLevels[input.name] { states.publish(input.stateTopic, level ? input.onPayload : input.offPayload) }
        }
        logger.info("reloaded \(new.source): \(changes.summary)")
        return .success(changes.summary)
    }

    /// On every connection: online, every state, and discovery.
    private func announce(_ state: AgentState) {
        let profile = state.profile
        states.publish(profile.statusTopic, "online")
        for output in profile.outputs where state.outputLines[output.name] != nil {
            states.publish(output.stateTopic, state.controller.isOn(output.name) == true ? "ON" : "OFF")
        }
        for input in profile.inputs {
            if let level = state.inputLevels[input.name] { states.publish(input.stateTopic, level ? input.onPayload : input.offPayload) }
        }
        // With discovery off nothing is published there: a broker's ACL may not allow the topic.
        let discovery = Discovery(profile: profile)
        if profile.discovery.enabled { states.publish(discovery.configTopic, discovery.config().serialized) }
        publishInfo(profile)
    }

    private func publishInfo(_ profile: Profile) {
        let info = DeviceInfo(kind: "agent", name: profile.device.name, outputs: profile.outputs.map(\.name),
                              inputs: profile.inputs.map(\.name), sensors: profile.sensors.map(\.name), seen: unixTimeNow())
        states.publish(profile.infoTopic, info.json.serialized)
    }

    private func shutdown(_ state: inout AgentState, timers: Timers) async {
        let profile = state.profile
        logger.info("stopping: publishing offline\(profile.safety.safeOnShutdown ? " and setting safe states" : "")")
        if profile.safety.safeOnShutdown { apply(state.controller.enterSafeStates(), &state, timers: timers) }
        // Waits for the broker's acknowledgement, briefly: a broker that is gone must not hold up the stop.
        publishInfo(profile)
        states.publish(profile.statusTopic, "offline")
        if !(await finishes(within: .seconds(2)) { [states] in await states.flush() }) {
            logger.warning("the broker did not acknowledge offline within 2 s; the will reports it instead")
        }
        state.releaseAll()
        record(state)
    }

    /// Brings the recorded ``status()`` up to date with the lines and their states.
    private func record(_ state: AgentState) {
        let profile = state.profile
        let outputs = profile.outputs.map { output in
            AgentStatus.Line(name: output.name, line: output.line.description,
                             state: state.outputLines[output.name] == nil ? nil : state.controller.isOn(output.name))
        }
        let inputs = profile.inputs.map { input in
            AgentStatus.Line(name: input.name, line: input.line.description, state: state.inputLines[input.name] == nil ? nil : state.inputLevels[input.name])
        }
        snapshot.withLock { status in
            status.profile = profile.source
            status.device = profile.device.id
            status.outputs = outputs
            status.inputs = inputs
            status.sensors = profile.sensors.map(\.name)
        }
    }

    // MARK: Workers

    /// Watches the edges of `inputs`, and reads every sensor and publisher of the state's profile.
    private func startWorkers(for state: AgentState, inputs: [String], _ workers: Workers) throws {
        let sink = eventSink
        for name in inputs {
            let stream = try state.inputStream(name)
            workers.start("input:\(name)") {
                for await edge in stream { sink.yield(.edge(input: name, edge)) }
            }
        }
        let profile = state.profile
        for sensor in profile.sensors {
            workers.start("sensor:\(sensor.name)") { [self] in await poll(sensor, profile: profile) }
        }
        for publisher in profile.publishers {
            workers.start("publisher:\(publisher.name)") { [self] in await publish(publisher) }
        }
    }

    // MARK: Publishing

    private func send(_ topic: String, _ payload: String, retain: Bool, qos: QoS = .atLeastOnce) {
        client.enqueue(MQTTMessage(topic: topic, payload: payload, qos: qos, retain: retain))
    }

    /// Messages a subscription logs per 10 s before the rest are counted: a reading a second is
    /// logged whole, a flood is not.
    public static let messageLinesPerWindow = 20

    /// Whether a line of this kind may go to the log now (a few per window, then a count).
    private func admitLogLine(_ kind: String, burst: Int? = nil, _ state: inout AgentState, timers: Timers) -> Bool {
        if state.logLimiter.admit(kind, burst: burst, at: .now) { return true }
        if let next = state.logLimiter.nextDeadline { timers.wakeForLog(at: next) }
        return false
    }

    private func refuse(_ profile: Profile, topic: String, payload: String, because error: any Error, _ state: inout AgentState, timers: Timers) {
        // Every refusal is answered on the error topic; the log takes a few a window per topic.
        if admitLogLine("refused a command on \(topic)", &state, timers: timers) { logRefusal(topic: topic, payload: payload, because: error) }
        noteError("\(topic): \(error)")
        send(profile.errorTopic, JSONValue.object(["topic": .string(topic), "payload": .string(leadingBytes(of: payload)),
                                                   "error": .string("\(error)"), "payload_bytes": .number(Double(payload.utf8.count))]).serialized,
             retain: false)
    }

    private func logRefusal(topic: String, payload: String, because error: any Error) {
        // Only the payload's start is repeated: a 1 MB command must not become a 1 MB log line or error message.
        // The log handler quotes and escapes metadata itself, so the excerpt goes in unquoted.
        logger.warning("refused a command", metadata: ["topic": "\(topic)", "payload": "\(leadingBytes(of: payload))",
                                                       "payload_bytes": "\(payload.utf8.count)", "reason": "\(error)"])
    }

    /// Says once per topic that a retained command was ignored, and how to clear it.
    private func refuseRetained(_ topic: String, _ state: inout AgentState) {
        guard state.reportedRetainedCommands.insert(topic).inserted else { return }
        let error = CommandRefusal.retained(topic)
        logger.warning("ignored a retained command", metadata: ["topic": "\(topic)", "reason": "\(error)"])
        noteError("\(topic): \(error)")
        send(state.profile.errorTopic, JSONValue.object(["topic": .string(topic), "error": .string(error)]).serialized, retain: false)
    }

    private func report(_ profile: Profile, source: String, error: String) {
        noteError("\(source): \(error)")
        send(profile.errorTopic, JSONValue.object(["source": .string(source), "error": .string(error)]).serialized, retain: false)
    }

    private func noteError(_ text: String) {
        snapshot.withLock { status in
            status.recentErrors.append(text)
            if status.recentErrors.count > 10 { status.recentErrors.removeFirst() }
        }
    }

    /// The command topics, the tutorial-style subscriptions and Home Assistant's status.
    static func subscriptions(_ profile: Profile) -> [Subscription] {
        // Retained commands are not wanted (5.0; a 3.1.1 broker sends them and they are ignored).
        var subscriptions = profile.outputs.compactMap {
            TopicFilter($0.commandTopic).map { Subscription($0, qos: .atLeastOnce, retainHandling: .doNotSend) }
        }
        subscriptions += profile.subscriptions.map { Subscription($0.filter, qos: $0.qos) }
        if profile.discovery.enabled, let filter = TopicFilter(Discovery(profile: profile).homeAssistantStatusTopic) {
            subscriptions.append(Subscription(filter, qos: .atLeastOnce))
        }
        return subscriptions
    }

    /// Subscribes in a task of its own: a SUBACK never comes while the broker is away, and that
    /// wait cannot be cancelled; it ends when the client stops.
    private func subscribe(_ subscriptions: [Subscription]) {
        guard !subscriptions.isEmpty else { return }
        Task { [client, logger] in
            do {
                let codes = try await client.subscribe(subscriptions)
                for (subscription, code) in zip(subscriptions, codes) where code.isFailure {
                    logger.error("the broker refused the subscription to \(subscription.filter): \(code)")
                }
            } catch {
                logger.error("cannot subscribe: \(error)")
            }
        }
    }

    /// Reads a sensor on its interval. A failed read goes to the error topic, never as a value.
    private func poll(_ sensor: SensorSettings, profile: Profile) async {
        let driver: any Sensor
        do {
            driver = try makeSensor(sensor.model, bus: hardware.openBus(sensor.bus), address: sensor.address, options: sensor.options)
        } catch {
            logger.error("sensor \(sensor.name): \(error)")
            report(profile, source: sensor.name, error: "\(error)")
            return
        }
        while !Task.isCancelled {
            do {
                let readings = try await driver.read()
                let members = readings.map { reading in
                    let unit = sensor.units[reading.quantity] ?? MeasurementUnit.units(for: reading.quantity)[0]
                    let value = (unit.convert(reading.value) * 1000).rounded() / 1000
                    return JSONMember(key: reading.quantity.rawValue, value: .number(value))
                }
                send(sensor.stateTopic, JSONValue.object(members).serialized, retain: false, qos: .atMostOnce)
            } catch is CancellationError {
                return
            } catch {
                logger.warning("sensor \(sensor.name) gave no reading: \(error)")
                report(profile, source: sensor.name, error: "\(error)")
            }
            try? await Task.sleep(for: .milliseconds(sensor.intervalMilliseconds))
        }
    }

    /// Publishes a periodic value, as the tutorial's sketch publishes a number every few seconds.
    private func publish(_ publisher: PublisherSettings) async {
        let started = ContinuousClock.now
        var generator = SystemRandomNumberGenerator()
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(publisher.intervalMilliseconds))
            if Task.isCancelled { return }
            let payload = switch publisher.value {
            case .random(let low, let high): String(Int.random(in: low...high, using: &generator))
            case .uptime: String((ContinuousClock.now - started).components.seconds)
            case .constant(let text): text
            }
            send(publisher.topic, payload, retain: publisher.retain, qos: publisher.qos)
        }
    }
}

/// Why a reload was refused; the agent keeps its profile.
public struct ReloadError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What the agent is doing, for `gpiobridge status`.
public struct AgentStatus: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        public var name: String
        public var line: String
        /// The logical state; nil while the line is not held.
        public var state: Bool?
    }

    public var profile: String
    public var device: String
    public var connection = "idle"
    public var outputs: [Line] = []
    public var inputs: [Line] = []
    public var sensors: [String] = []
    /// The last ten errors, oldest first.
    public var recentErrors: [String] = []

    init(profile: Profile) {
        self.profile = profile.source
        self.device = profile.device.id
    }

    /// As JSON, for the control socket and `gpiobridge status --json`.
    public var json: JSONValue {
        func lines(_ lines: [Line]) -> JSONValue {
            .array(lines.map { line in
                .object(["name": .string(line.name), "line": .string(line.line), "state": line.state.map { .string($0 ? "ON" : "OFF") } ?? .null])
            })
        }
        return .object([
            "profile": .string(profile), "device": .string(device), "connection": .string(connection),
            "outputs": lines(outputs), "inputs": lines(inputs), "sensors": .array(sensors.map { .string($0) }),
            "errors": .array(recentErrors.map { .string($0) }),
        ])
    }
}

/// Long-running tasks the agent starts and stops by name (input watchers, sensors, publishers).
final class Workers: Sendable {
    private let tasks = Mutex<[String: Task<Void, Never>]>([:])

    func start(_ key: String, _ operation: @escaping @Sendable () async -> Void) {
        let task = Task { await operation() }
        tasks.withLock { $0.updateValue(task, forKey: key)?.cancel() }
    }

    func cancel(_ key: String) {
        tasks.withLock { $0.removeValue(forKey: key)?.cancel() }
    }

    func cancelAll() {
        tasks.withLock { tasks in
            for task in tasks.values { task.cancel() }
            tasks = [:]
        }
    }
}

/// The agent's timers: pulses and the broker grace period. Each fires by putting an event into
/// the agent's loop, so all state changes stay in that loop.
final class Timers: Sendable {
    private let sink: AsyncStream<Agent.Event>.Continuation
    private let state = Mutex<(pulses: [String: Task<Void, Never>], grace: Task<Void, Never>?, graceEpoch: Int, log: Task<Void, Never>?)>(([:], nil, 0, nil))

    init(sink: AsyncStream<Agent.Event>.Continuation) {
        self.sink = sink
    }

    func startPulse(_ name: String, after duration: Duration, generation: Int) {
        let task = Task { [sink] in
            guard (try? await Task.sleep(for: duration)) != nil else { return }
            sink.yield(.pulseEnded(output: name, generation: generation))
        }
        state.withLock { $0.pulses.updateValue(task, forKey: name)?.cancel() }
    }

    func cancelPulse(_ name: String) {
        state.withLock { $0.pulses.removeValue(forKey: name)?.cancel() }
    }

    var graceRunning: Bool { state.withLock { $0.grace != nil } }

    func startGrace(after duration: Duration) {
        state.withLock { state in
            state.graceEpoch += 1
            let epoch = state.graceEpoch
            state.grace = Task { [sink] in
                guard (try? await Task.sleep(for: duration)) != nil else { return }
                sink.yield(.graceExpired(epoch: epoch))
            }
        }
    }

    func cancelGrace() {
        state.withLock { state in
            state.grace?.cancel()
            state.grace = nil
            state.graceEpoch += 1
        }
    }

    func isCurrentGrace(_ epoch: Int) -> Bool {
        state.withLock { state in
            guard state.graceEpoch == epoch else { return false }
            state.grace = nil
            return true
        }
    }

    /// Wakes the loop at `deadline` for the log limiter's counts, unless a wake is already due.
    func wakeForLog(at deadline: ContinuousClock.Instant) {
        state.withLock { state in
            guard state.log == nil else { return }
            state.log = Task { [sink] in
                guard (try? await Task.sleep(until: deadline, clock: .continuous)) != nil else { return }
                sink.yield(.logWindowEnded)
            }
        }
    }

    func logWindowEnded() {
        state.withLock { $0.log = nil }
    }

    func cancelAll() {
        state.withLock { state in
            for task in state.pulses.values { task.cancel() }
            state.pulses = [:]
            state.grace?.cancel()
            state.grace = nil
            state.log?.cancel()
            state.log = nil
        }
    }
}
