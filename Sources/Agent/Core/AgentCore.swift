import Hardware
import JSON
import Logging
import MQTT
import Profile
import Scheme

/// The agent's whole logic as a value type on the caller's clock: commands, output safety (through
/// ``OutputController``), pulses, the broker grace period, the restore window, input states,
/// sensor and publisher schedules, availability, discovery and reloads. Its mutating methods take
/// what happened and return what to do; ``Agent`` carries that out on its client's event loop,
/// and ``AgentLines`` does the line I/O. Every deadline lives in one ``DeadlineQueue``.
public struct AgentCore: Sendable {
    /// Something the agent must do, in order.
    ///
    /// If a ``drive(output:on:)`` fails, the agent stops and calls
    /// ``driveFailed(_:error:skipped:at:)`` with the actions after it, and carries out what that
    /// returns instead: an interlocked partner that could not be switched off is never switched on.
    public enum Action: Sendable, Equatable {
        /// Set the output's line to a logical level.
        case drive(output: String, on: Bool)
        /// Request the lines of outputs that waited for their retained state, at these levels, in
        /// order; then call ``outputsRequested(_:failure:at:)``.
        case requestOutputs([OutputRequest])
        /// A retained state (QoS 1): a newer one for the topic replaces one not yet sent.
        case retain(topic: String, payload: String)
        /// A message that is not a state.
        case publish(topic: String, payload: String, qos: QoS, retain: Bool)
        case subscribe([Subscription])
        case unsubscribe([TopicFilter])
        /// Read the sensor, away from the event loop, and hand the result to
        /// ``sensorRead(_:round:result:at:)`` with this round.
        case readSensor(String, round: Int)
        /// A line for the operator's log.
        case log(Logger.Level, String, Logger.Metadata)
    }

    /// An output whose line is to be requested at a level.
    public struct OutputRequest: Sendable, Equatable {
        public var output: String
        public var on: Bool

        public init(output: String, on: Bool) {
            self.output = output
            self.on = on
        }
    }

    /// Who reads a topic the agent subscribes to.
    private enum Route: Hashable, Sendable {
        case command(output: String)
        case restoreState(output: String)
        case homeAssistantStatus
        case subscription(index: Int)
    }

    /// How long outputs with `initial: restore` wait for their retained state before starting off.
    public static let restoreWindow = Duration.seconds(2)
    /// Messages a subscription logs per 10 s before the rest are counted: a reading a second is
    /// logged whole, a flood is not.
    public static let messageLinesPerWindow = 20

    public private(set) var profile: Profile
    private var controller: OutputController
    /// Outputs whose line is held, and so have a state.
    private var heldOutputs: Set<String>
    /// The logical level of each held input.
    private var inputLevels: [String: Bool]
    private var awaitingRestore: Bool
    private var restored: [String: Bool] = [:]
    /// The state topics of `initial: restore` outputs, read once at start.
    private let restoreTopics: [String]
    /// Command topics whose retained command was already reported: each is reported once.
    private var reportedRetainedCommands: Set<String> = []
    /// Bounds the lines a flood of refused commands or subscribed messages writes to the log.
    private var logLimiter = LogLimiter()
    private var deadlines = DeadlineQueue()
    private var routes = TopicRouter<Route>()
    private var pulseGenerations: [String: Int] = [:]
    /// Sensor results of an earlier round (before a reload) are dropped.
    private var sensorRound = 0
    private let started: ContinuousClock.Instant
    private let wallOrigin: (instant: ContinuousClock.Instant, unix: Int)
    private var connection = "idle"
    private var recentErrors: [String] = []

    private static let graceKey = " grace"
    private static let restoreKey = " restore"
    private static let logKey = " log"
    private static let infoKey = " info"
    private static func pulseKey(_ output: String) -> String { "pulse " + output }
    private static func sensorKey(_ sensor: String) -> String { "sensor " + sensor }
    private static func publisherKey(_ publisher: String) -> String { "publisher " + publisher }

    /// The core of an agent whose lines are held: outputs at `outputStates` (those restoring their
    /// retained state are absent and wait), inputs at `inputLevels`. `unixNow` is the wall clock
    /// at `now`.
    public init(
        profile: Profile, outputStates: [String: Bool], inputLevels: [String: Bool], at now: ContinuousClock.Instant,
        unixNow: Int
    ) {
        self.profile = profile
        controller = OutputController(outputs: profile.outputs, initialStates: outputStates)
        heldOutputs = Set(outputStates.keys)
        self.inputLevels = inputLevels
        restoreTopics = profile.outputs.filter { $0.initial == .restore }.map(\.stateTopic)
        awaitingRestore = !restoreTopics.isEmpty
        started = now
        wallOrigin = (now, unixNow)
        routes = Self.routes(profile, restoring: awaitingRestore)
        if awaitingRestore { deadlines.set(Self.restoreKey, now + Self.restoreWindow) }
        deadlines.set(Self.infoKey, now + DeviceInfo.refreshInterval)
        schedule(profile, at: now)
    }

    // MARK: Starting and stopping

    /// What to subscribe to before anything else: the command topics, the profile's subscriptions,
    /// Home Assistant's status, and the retained states to restore.
    public func start() -> [Action] {
        var subscriptions = Self.subscriptions(profile)
        if awaitingRestore {
            subscriptions += restoreTopics.compactMap { TopicFilter($0).map { Subscription($0, qos: .atLeastOnce) } }
        }
        return subscriptions.isEmpty ? [] : [.subscribe(subscriptions)]
    }

    /// The agent stops: safe states (when the profile asks for them), then the info and `offline`.
    public mutating func shutdown(at now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = [.log(.info, "stopping: publishing offline\(profile.safety.safeOnShutdown ? " and setting safe states" : "")", [:])]
        if profile.safety.safeOnShutdown { actions += translate(controller.enterSafeStates(), at: now) }
        return actions + [info(at: now), .retain(topic: profile.statusTopic, payload: SchemeWord.offline)]
    }

    // MARK: Events

    /// The client's connection changed. Connected: everything is announced again. Lost: the
    /// broker grace period starts, after which outputs go to their safe states.
    public mutating func connectionChanged(_ state: MQTTConnectionState, at now: ContinuousClock.Instant) -> [Action] {
        connection = state.description
        if state.isConnected {
            deadlines.set(Self.graceKey, nil)
            return announce(at: now)
        }
        if case .stopped = state { return [] }
        if deadlines.deadline(of: Self.graceKey) == nil, let grace = profile.safety.brokerGraceMilliseconds {
            deadlines.set(Self.graceKey, now + .milliseconds(grace))
        }
        return []
    }

    /// A message from the broker.
    public mutating func message(_ message: MQTTMessage, at now: ContinuousClock.Instant) -> [Action] {
        let matched = routes.owners(of: message.topic)
        guard !matched.isEmpty else { return [] }
        for route in matched {
            if case .command(let output) = route { return command(message, output: output, at: now) }
        }
        for route in matched {
            if case .restoreState(let output) = route, awaitingRestore { return restoreState(message, output: output, at: now) }
        }
        if matched.contains(.homeAssistantStatus), message.payloadString == SchemeWord.online {
            return [.log(.info, "Home Assistant is online: sending discovery and states again", [:])] + announce(at: now)
        }
        let index = matched.compactMap { if case .subscription(let index) = $0 { index } else { nil } }.min()
        guard let index, admitLogLine("message \(profile.subscriptions[index].filter)", burst: Self.messageLinesPerWindow, at: now) else { return [] }
        return [
            .log(
                .info, "message",
                [
                    "topic": "\(message.topic)", "payload": "\(leadingBytes(of: message.payloadString))",
                    "payload_bytes": "\(message.payload.readableBytes)",
                ])
        ]
    }

    /// The client skipped a message over its packet size limit unread (and logged it).
    public mutating func skippedMessage(topic: String, size: Int, limit: Int) -> [Action] {
        let error = CommandRefusal.oversized(size: size, limit: limit)
        noteError("\(topic): \(error)")
        return [errorReport(ErrorReport(topic: topic, payload: nil, error: error))]
    }

    /// An input's level changed.
    public mutating func edge(input: String, rising: Bool) -> [Action] {
        guard let settings = profile.inputs.first(where: { $0.name == input }), inputLevels[input] != nil else { return [] }
        inputLevels[input] = rising
        return [.retain(topic: settings.stateTopic, payload: rising ? settings.onPayload : settings.offPayload)]
    }

    /// A sensor read asked for by ``Action/readSensor(_:round:)`` finished. A failed read goes to
    /// the error topic, never as a value. The next read is due one interval later.
    public mutating func sensorRead(
        _ name: String, round: Int, result: Result<[SensorReading], any Error>,
        at now: ContinuousClock.Instant
    ) -> [Action] {
        guard round == sensorRound, let sensor = profile.sensors.first(where: { $0.name == name }) else { return [] }
        deadlines.set(Self.sensorKey(name), now + .milliseconds(sensor.intervalMilliseconds))
        switch result {
        case .success(let readings):
            let members = readings.map { reading in
                let unit = sensor.units[reading.quantity] ?? MeasurementUnit.units(for: reading.quantity)[0]
                return JSONMember(key: reading.quantity.rawValue, value: .number((unit.convert(reading.value) * 1000).rounded() / 1000))
            }
            return [.publish(topic: sensor.stateTopic, payload: JSONValue.object(members).serialized, qos: .atMostOnce, retain: false)]
        case .failure(let error):
            return [.log(.warning, "sensor \(name) gave no reading: \(error)", [:])] + report(source: name, error: "\(error)")
        }
    }

    /// The sensor cannot be read at all (its bus or driver could not be opened): reported once,
    /// and not tried again until the next reload.
    public mutating func sensorUnavailable(_ name: String, error: any Error) -> [Action] {
        deadlines.set(Self.sensorKey(name), nil)
        return [.log(.error, "sensor \(name): \(error)", [:])] + report(source: name, error: "\(error)")
    }

    /// Pulses end, the grace period runs out, the restore window closes, sensors and publishers
    /// fall due, the info is refreshed and the log's counts are written.
    public mutating func tick(at now: ContinuousClock.Instant) -> [Action] {
        // Every due key is taken off first and runs once; each reschedules itself. A key still due
        // after it ran waits for the next tick instead of holding up the others.
        var due: [(at: ContinuousClock.Instant, key: String)] = []
        while let next = deadlines.earliest(), next.at <= now {
            deadlines.set(next.key, nil)
            due.append(next)
        }
        return due.flatMap { fire($0.key, due: $0.at, at: now) }
    }

    /// When ``tick(at:)`` is next needed.
    public mutating func nextDeadline() -> ContinuousClock.Instant? {
        deadlines.earliest()?.at
    }

    private mutating func fire(_ key: String, due: ContinuousClock.Instant, at now: ContinuousClock.Instant) -> [Action] {
        switch key {
        case Self.graceKey:
            return [.log(.warning, "no broker for \(profile.safety.brokerGraceMilliseconds ?? 0) ms: outputs go to their safe states", [:])]
                + translate(controller.enterSafeStates(), at: now)
        case Self.restoreKey:
            return finishRestore()
        case Self.infoKey:
            deadlines.set(Self.infoKey, now + DeviceInfo.refreshInterval)
            return [info(at: now)]
        case Self.logKey:
            let actions = logLimiter.expire(at: now).map { summary in
                Action.log(
                    .warning, "\(summary.suppressed) more lines like this were left out of the log in the last \(logLimiter.window)",
                    ["kind": "\(summary.key)"])
            }
            deadlines.set(Self.logKey, logLimiter.nextDeadline)
            return actions
        default:
            break
        }
        if let output = key.dropPrefix("pulse "), let generation = pulseGenerations.removeValue(forKey: output) {
            return translate(controller.pulseEnded(output, generation: generation), at: now)
        }
        if let sensor = key.dropPrefix("sensor ") {
            return [.readSensor(sensor, round: sensorRound)]
        }
        if let name = key.dropPrefix("publisher "), let publisher = profile.publishers.first(where: { $0.name == name }) {
            // On a fixed grid from the agent's start; a late tick skips what it missed.
            let interval = Duration.milliseconds(publisher.intervalMilliseconds)
            var next = due + interval
            while next <= now { next += interval }
            deadlines.set(key, next)
            return [.publish(topic: publisher.topic, payload: value(of: publisher, at: now), qos: publisher.qos, retain: publisher.retain)]
        }
        return []
    }

    // MARK: Commands

    private mutating func command(_ message: MQTTMessage, output name: String, at now: ContinuousClock.Instant) -> [Action] {
        // A command from the broker's retained store was not sent now: it would move the line at
        // every start (a heater switching on after a reboot). MQTT 5 subscriptions ask the broker
        // not to send one; this catches 3.1.1 and other subscriptions that match.
        if message.retain { return refuseRetained(message.topic) }
        let payload = message.payloadString
        do {
            let command = try OutputCommand(payload: payload)
            guard heldOutputs.contains(name) else {
                throw CommandError("\(name) is still waiting for its retained state", hint: "try again in a moment")
            }
            // At debug: at info, a busy controller writes a journal line per command and meets
            // journald's rate limit, which then drops the warnings that matter. A command that
            // parsed is at most 1024 bytes; the log handler escapes it.
            return [.log(.debug, "command", ["output": "\(name)", "payload": "\(payload)"])]
                + translate(controller.handle(command, for: name), at: now)
        } catch {
            return refuse(topic: message.topic, payload: payload, because: error, at: now)
        }
    }

    /// A drive failed; `skipped` are the actions of its batch that were not carried out. The
    /// outputs of the skipped drives keep their state; what returns is carried out instead.
    public mutating func driveFailed(_ output: String, error: String, skipped: [Action]) -> [Action] {
        var undone = [output]
        var controllerSkipped: [OutputController.Action] = []
        for case .drive(let other, let on) in skipped {
            undone.append(other)
            controllerSkipped.append(.drive(other, on: on))
        }
        controller.driveFailed(output, skipped: controllerSkipped)
        let undoneStates = Set(profile.outputs.filter { undone.contains($0.name) }.map(\.stateTopic))
        let rest = skipped.filter { action in
            switch action {
            case .drive: false
            case .retain(let topic, _): !undoneStates.contains(topic)
            default: true
            }
        }
        return [.log(.error, "cannot drive \(output): \(error)", [:])] + report(source: output, error: "cannot drive the line: \(error)") + rest
    }

    /// Carries out the controller's actions: drives and states become actions, pulses deadlines.
    private mutating func translate(_ actions: [OutputController.Action], at now: ContinuousClock.Instant) -> [Action] {
        var result: [Action] = []
        for action in actions {
            switch action {
            case .drive(let name, let on):
                result.append(.drive(output: name, on: on))
            case .publish(let name, let on):
                if let output = profile.outputs.first(where: { $0.name == name }) {
                    result.append(.retain(topic: output.stateTopic, payload: SchemeWord.state(on)))
                }
            case .startPulse(let name, let milliseconds, let generation):
                pulseGenerations[name] = generation
                deadlines.set(Self.pulseKey(name), now + .milliseconds(milliseconds))
            case .cancelPulse(let name):
                pulseGenerations[name] = nil
                deadlines.set(Self.pulseKey(name), nil)
            }
        }
        return result
    }

    private mutating func refuse(topic: String, payload: String, because error: any Error, at now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        // Every refusal is answered on the error topic; the log takes a few a window per topic.
        // Only the payload's start is repeated: a 1 MB command must not become a 1 MB log line.
        if admitLogLine("refused a command on \(topic)", at: now) {
            actions.append(
                .log(
                    .warning, "refused a command",
                    [
                        "topic": "\(topic)", "payload": "\(leadingBytes(of: payload))",
                        "payload_bytes": "\(payload.utf8.count)", "reason": "\(error)",
                    ]))
        }
        noteError("\(topic): \(error)")
        actions.append(errorReport(ErrorReport(topic: topic, payload: payload, error: "\(error)")))
        return actions
    }

    /// Says once per topic that a retained command was ignored, and how to clear it.
    private mutating func refuseRetained(_ topic: String) -> [Action] {
        guard reportedRetainedCommands.insert(topic).inserted else { return [] }
        let error = CommandRefusal.retained(topic)
        noteError("\(topic): \(error)")
        return [
            .log(.warning, "ignored a retained command", ["topic": "\(topic)", "reason": "\(error)"]),
            errorReport(ErrorReport(topic: topic, payload: nil, error: error)),
        ]
    }

    // MARK: Restoring

    private mutating func restoreState(_ message: MQTTMessage, output name: String, at now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        let payload = message.payloadString.uppercased()
        if payload == SchemeWord.on || payload == SchemeWord.off {
            restored[name] = payload == SchemeWord.on
        } else if message.payload.readableBytes > 0 {
            // Not a state this agent wrote: the output starts off rather than guess.
            actions.append(
                .log(
                    .warning, "the retained state cannot be restored: it is neither ON nor OFF; the output starts off",
                    [
                        "output": "\(name)", "topic": "\(message.topic)", "payload": "\(leadingBytes(of: message.payloadString))",
                        "payload_bytes": "\(message.payload.readableBytes)",
                    ]))
            actions += report(
                source: name,
                error: "the retained state on \(message.topic), \(quotedExcerpt(message.payloadString)), is neither ON nor OFF; \(name) starts off")
            restored[name] = false
        }
        if profile.outputs.allSatisfy({ $0.initial != .restore || restored[$0.name] != nil }) { actions += finishRestore() }
        return actions
    }

    /// The restore window is over, or every retained state is in: the waiting outputs are requested.
    private mutating func finishRestore() -> [Action] {
        guard awaitingRestore else { return [] }
        awaitingRestore = false
        deadlines.set(Self.restoreKey, nil)
        let requests = profile.outputs.filter { $0.initial == .restore && !heldOutputs.contains($0.name) }.map {
            OutputRequest(output: $0.name, on: restored[$0.name] ?? false)
        }
        return [.requestOutputs(requests)]
    }

    /// The lines of ``Action/requestOutputs(_:)`` were requested: `requested` at their levels, up
    /// to the one that failed, if any. Then the restore subscriptions end and everything is announced.
    public mutating func outputsRequested(_ requested: [OutputRequest], failure: String?, at now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for request in requested {
            heldOutputs.insert(request.output)
            controller.adopt(request.output, on: request.on)
        }
        if let failure {
            actions.append(.log(.error, "cannot request restored outputs: \(failure)", [:]))
            actions += report(source: "agent", error: failure)
        }
        routes = Self.routes(profile, restoring: false)
        let filters = restoreTopics.compactMap { TopicFilter($0) }
        if !filters.isEmpty { actions.append(.unsubscribe(filters)) }
        return actions + announce(at: now)
    }

    // MARK: Reloading

    /// Why `new` cannot be reloaded into without a restart, if it cannot.
    public func reloadRefusal(_ new: Profile) -> ReloadError? {
        if new.broker != profile.broker {
            return ReloadError("the broker settings changed: restart the agent to connect with them (systemctl restart gpiobridge)")
        }
        if new.device != profile.device {
            return ReloadError("the device id, name or base topic changed: restart the agent, since its will and status topic change")
        }
        return nil
    }

    /// The lines moved to `new` (``AgentLines/reconfigure(to:outputStates:)``): outputs kept carry
    /// on with their state and pulse, the others start at their initial state; subscriptions,
    /// discovery, states, sensors and publishers follow the new profile.
    public mutating func reloaded(to new: Profile, changes: AgentLines.Changes, at now: ContinuousClock.Instant) -> [Action] {
        let old = profile
        var actions: [Action] = []
        for name in changes.changed + changes.removed {
            pulseGenerations[name] = nil
            deadlines.set(Self.pulseKey(name), nil)
        }
        controller = controller.reconfigured(to: new.outputs, keeping: Set(changes.kept))
        heldOutputs = Set(
            new.outputs.map(\.name).filter { heldOutputs.contains($0) && changes.kept.contains($0) || changes.heldOutputs.contains($0) })
        inputLevels = inputLevels.filter { changes.kept.contains($0.key) }.merging(changes.inputLevels) { $1 }
        for sensor in old.sensors { deadlines.set(Self.sensorKey(sensor.name), nil) }
        for publisher in old.publishers { deadlines.set(Self.publisherKey(publisher.name), nil) }
        sensorRound += 1
        profile = new
        routes = Self.routes(new, restoring: awaitingRestore)
        schedule(new, at: now)

        let oldFilters = Set(Self.subscriptions(old).map(\.filter))
        let newSubscriptions = Self.subscriptions(new)
        let gone = oldFilters.subtracting(newSubscriptions.map(\.filter))
        if !gone.isEmpty { actions.append(.unsubscribe(gone.sorted { $0.description < $1.description })) }
        let added = newSubscriptions.filter { !oldFilters.contains($0.filter) }
        if !added.isEmpty { actions.append(.subscribe(added)) }
        // Home Assistant drops the components that are gone, and entities that stayed keep their ids.
        let discovery = Discovery(profile: new)
        if new.discovery.enabled {
            actions.append(
                .retain(
                    topic: discovery.configTopic,
                    payload: discovery.config(removing: discovery.removedComponents(since: Discovery(profile: old))).serialized))
        } else if old.discovery.enabled {
            actions.append(.retain(topic: discovery.configTopic, payload: ""))
        }
        // What is gone leaves no retained state behind.
        for output in old.outputs where changes.removed.contains(output.name) { actions.append(.retain(topic: output.stateTopic, payload: "")) }
        for input in old.inputs where changes.removed.contains(input.name) { actions.append(.retain(topic: input.stateTopic, payload: "")) }
        for output in new.outputs where changes.added.contains(output.name) || changes.changed.contains(output.name) {
            actions.append(.retain(topic: output.stateTopic, payload: SchemeWord.state(controller.isOn(output.name) == true)))
        }
        for input in new.inputs {
            if let level = changes.inputLevels[input.name] {
                actions.append(.retain(topic: input.stateTopic, payload: level ? input.onPayload : input.offPayload))
            }
        }
        actions.append(.log(.info, "reloaded \(new.source): \(changes.summary)", [:]))
        return actions
    }

    // MARK: Announcing

    /// On every connection: online, every state, discovery and the info.
    private func announce(at now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = [.retain(topic: profile.statusTopic, payload: SchemeWord.online)]
        for output in profile.outputs where heldOutputs.contains(output.name) {
            actions.append(.retain(topic: output.stateTopic, payload: SchemeWord.state(controller.isOn(output.name) == true)))
        }
        for input in profile.inputs {
            if let level = inputLevels[input.name] {
                actions.append(.retain(topic: input.stateTopic, payload: level ? input.onPayload : input.offPayload))
            }
        }
        // With discovery off nothing is published there: a broker's ACL may not allow the topic.
        let discovery = Discovery(profile: profile)
        if profile.discovery.enabled { actions.append(.retain(topic: discovery.configTopic, payload: discovery.config().serialized)) }
        return actions + [info(at: now)]
    }

    private func info(at now: ContinuousClock.Instant) -> Action {
        // The id goes along when the base topic does not say it, so `fleet ls` can name the agent.
        let id = profile.device.baseTopic == DeviceTopics(device: profile.device.id).base ? nil : profile.device.id
        let info = DeviceInfo(
            kind: "agent", id: id, name: profile.device.name, outputs: profile.outputs.map(\.name), inputs: profile.inputs.map(\.name),
            sensors: profile.sensors.map(\.name), seen: wallOrigin.unix + Int((now - wallOrigin.instant).components.seconds))
        return .retain(topic: profile.infoTopic, payload: info.json.serialized)
    }

    // MARK: Status

    /// What the agent is doing now, for `gpiobridge status`.
    public var status: AgentStatus {
        var status = AgentStatus(profile: profile)
        status.connection = connection
        status.outputs = profile.outputs.map { output in
            AgentStatus.Line(
                name: output.name, line: output.line.description, state: heldOutputs.contains(output.name) ? controller.isOn(output.name) : nil)
        }
        status.inputs = profile.inputs.map { AgentStatus.Line(name: $0.name, line: $0.line.description, state: inputLevels[$0.name]) }
        status.sensors = profile.sensors.map(\.name)
        status.recentErrors = recentErrors
        return status
    }

    /// Each held output's state, as the controller believes it.
    public var outputStates: [String: Bool] {
        Dictionary(uniqueKeysWithValues: heldOutputs.compactMap { name in controller.isOn(name).map { (name, $0) } })
    }

    // MARK: Helpers

    private mutating func schedule(_ profile: Profile, at now: ContinuousClock.Instant) {
        for sensor in profile.sensors { deadlines.set(Self.sensorKey(sensor.name), now) }
        for publisher in profile.publishers {
            deadlines.set(Self.publisherKey(publisher.name), now + .milliseconds(publisher.intervalMilliseconds))
        }
    }

    private func value(of publisher: PublisherSettings, at now: ContinuousClock.Instant) -> String {
        switch publisher.value {
        case .random(let low, let high):
            var generator = SystemRandomNumberGenerator()
            return String(Int.random(in: low...high, using: &generator))
        case .uptime:
            return String((now - started).components.seconds)
        case .constant(let text):
            return text
        }
    }

    /// Whether a line of this kind may go to the log now (a few per window, then a count).
    private mutating func admitLogLine(_ kind: String, burst: Int? = nil, at now: ContinuousClock.Instant) -> Bool {
        if logLimiter.admit(kind, burst: burst, at: now) { return true }
        if deadlines.deadline(of: Self.logKey) == nil { deadlines.set(Self.logKey, logLimiter.nextDeadline) }
        return false
    }

    private mutating func report(source: String, error: String) -> [Action] {
        noteError("\(source): \(error)")
        return [errorReport(ErrorReport(source: source, error: error))]
    }

    private func errorReport(_ report: ErrorReport) -> Action {
        .publish(topic: profile.errorTopic, payload: report.json, qos: .atLeastOnce, retain: false)
    }

    private mutating func noteError(_ text: String) {
        recentErrors.append(text)
        if recentErrors.count > 10 { recentErrors.removeFirst() }
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

    private static func routes(_ profile: Profile, restoring: Bool) -> TopicRouter<Route> {
        var routes = TopicRouter<Route>()
        for output in profile.outputs {
            routes.add(output.commandTopic, owner: .command(output: output.name))
            if restoring && output.initial == .restore { routes.add(output.stateTopic, owner: .restoreState(output: output.name)) }
        }
        for (index, subscription) in profile.subscriptions.enumerated() {
            routes.add(subscription.filter.description, owner: .subscription(index: index))
        }
        if profile.discovery.enabled { routes.add(Discovery(profile: profile).homeAssistantStatusTopic, owner: .homeAssistantStatus) }
        return routes
    }
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
