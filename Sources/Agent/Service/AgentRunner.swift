import Hardware
import Logging
import MQTT
import NIOCore
import Profile
import Scheme
import ServiceSupport

/// Carries out an ``AgentCore``'s actions on the client's event loop, and feeds it everything
/// that happens: messages and connection changes (delivered on the loop), input edges and sensor
/// results (moved to the loop), and its deadlines (one timer on the loop). Only the loop touches it.
final class AgentRunner {
    let eventLoop: any EventLoop
    private let client: MQTTClient
    private let hardware: AgentHardware
    private let logger: Logger
    private let outbox: StateOutbox
    private var profile: Profile
    /// nil until the agent starts; the core and the lines are mutated in place. The hot paths
    /// reach the core only through ``withCore(_:)``: reading a stored optional struct copies it.
    private var core: AgentCore?
    /// The core is there: started, not yet finished.
    private var isRunning = false
    private var lines: AgentLines?
    private var stopped: EventLoopPromise<Void>?
    private var stopping = false
    /// Set once the agent has stopped: the last status, with no line held.
    private var finalStatus: AgentStatus?
    /// Messages a resumed session delivered before the agent started.
    private var early: [MQTTMessage] = []
    private var timer = DeadlineTimer()
    private var sensors: [String: any Sensor] = [:]
    private var sensorReads: [String: Task<Void, Never>] = [:]

    /// Messages kept before the agent starts; a persistent session delivers its queued commands
    /// right after CONNACK, which may come first.
    static let earlyLimit = 1000
    /// How long the stop waits for the broker to acknowledge `offline`.
    static let offlineWait = Duration.seconds(2)

    init(profile: Profile, client: MQTTClient, hardware: AgentHardware, logger: Logger) {
        self.profile = profile
        self.client = client
        self.eventLoop = client.eventLoop
        self.hardware = hardware
        self.logger = logger
        outbox = StateOutbox(client: client)
    }

    private var bound: NIOLoopBound<AgentRunner> { NIOLoopBound(self, eventLoop: eventLoop) }

    // MARK: Starting and stopping

    /// Requests the lines and starts; the future completes when the agent has stopped.
    func start() throws -> EventLoopFuture<Void> {
        guard core == nil, stopped == nil else {
            throw AgentStartError(problems: ["the agent is running already, or has stopped: make a new one"])
        }
        let lines = try AgentLines(profile: profile, hardware: hardware)
        self.lines = lines
        core = AgentCore(
            profile: profile, outputStates: lines.initialOutputStates, inputLevels: lines.initialInputLevels,
            at: .now, unixNow: unixTimeNow())
        isRunning = true
        let stopped = eventLoop.makePromise(of: Void.self)
        self.stopped = stopped
        watch(profile.inputs.map(\.name))
        update { $0.start() }
        logger.info("agent started", metadata: ["device": "\(profile.device.id)", "profile": "\(profile.source)"])
        update { $0.connectionChanged(client.connectionState, at: .now) }
        let waiting = early
        early = []
        for message in waiting { received(message) }
        return stopped.futureResult
    }

    /// Safe states and `offline`, then the lines go back to the kernel.
    func stop() {
        guard let stopped, !stopping else { return }
        update { $0.shutdown(at: .now) }
        stopping = true
        timer.cancel()
        for task in sensorReads.values { task.cancel() }
        sensorReads = [:]
        let bound = self.bound
        outbox.flush(within: Self.offlineWait).whenSuccess { acknowledged in
            if !acknowledged { bound.value.logger.warning("the broker did not acknowledge offline within 2 s; the will reports it instead") }
            bound.value.finished()
            stopped.succeed()
        }
    }

    /// The lines go back to the kernel; the last status stays for `gpiobridge status`.
    private func finished() {
        lines?.releaseAll()
        guard var status = core?.status else { return }
        for index in status.outputs.indices { status.outputs[index].state = nil }
        for index in status.inputs.indices { status.inputs[index].state = nil }
        finalStatus = status
        isRunning = false
        core = nil
        lines = nil
    }

    // MARK: What happens

    func received(_ message: MQTTMessage) {
        guard isRunning else {
            guard stopped == nil else { return }
            guard early.count < Self.earlyLimit else {
                logger.warning("a message arrived before the agent started and was dropped", metadata: ["topic": "\(message.topic)"])
                return
            }
            early.append(message)
            return
        }
        if let size = message.skippedPacketSize {
            // The client skipped it unread and acknowledged it; the log has its line already.
            update { $0.skippedMessage(topic: message.topic, size: size, limit: client.configuration.maximumPacketSize) }
        } else {
            update { $0.message(message, at: .now) }
        }
    }

    func connectionChanged(_ state: MQTTConnectionState) {
        update { $0.connectionChanged(state, at: .now) }
    }

    private func edges(_ input: String, _ edges: [EdgeEvent], dropped: Int) {
        if dropped > 0 { logger.warning("\(input): \(dropped) edges came faster than the agent could take them and were dropped") }
        update { core in edges.flatMap { core.edge(input: input, rising: $0.rising) } }
    }

    private func sensorDone(_ name: String, round: Int, _ result: Result<[SensorReading], any Error>) {
        sensorReads[name] = nil
        update { $0.sensorRead(name, round: round, result: result, at: .now) }
    }

    private func timerFired() {
        timer.fired()
        update { $0.tick(at: .now) }
    }

    var status: AgentStatus {
        finalStatus ?? core?.status ?? AgentStatus(profile: profile)
    }

    func reload(_ new: Profile) -> Result<String, ReloadError> {
        guard let core, let lines, !stopping else { return .failure(ReloadError("the agent has stopped")) }
        if let refusal = core.reloadRefusal(new) { return .failure(refusal) }
        let changes: AgentLines.Changes
        do {
            changes = try lines.reconfigure(to: new, outputStates: core.outputStates)
        } catch {
            logger.error("reload refused; keeping \(profile.source)", metadata: ["reason": "\(error)"])
            return .failure(ReloadError("\(error)"))
        }
        profile = new
        for task in sensorReads.values { task.cancel() }
        sensorReads = [:]
        sensors = [:]
        watch(changes.inputsToWatch)
        update { $0.reloaded(to: new, changes: changes, at: .now) }
        return .success(changes.summary)
    }

    // MARK: Carrying out

    /// Runs `body` on the core and carries out the actions it returns, then sets the timer for
    /// the core's next deadline.
    private func update(_ body: (inout AgentCore) -> [AgentCore.Action]) {
        // After `offline` nothing moves a line: a command in the last 2 s before the stop is dropped.
        guard isRunning, !stopping, let actions = withCore(body) else { return }
        carryOut(actions)
        setTimer()
    }

    /// `body` on the core in place, or nil before the start and after the stop.
    private func withCore<Result>(_ body: (inout AgentCore) -> Result) -> Result? {
        guard isRunning else { return nil }
        return body(&core!)
    }

    /// Carries out `actions` in order; a drive that fails hands the rest back to the core.
    private func carryOut(_ actions: [AgentCore.Action]) {
        guard let lines else { return }
        for (index, action) in actions.enumerated() {
            switch action {
            case .drive(let output, let on):
                do {
                    try lines.drive(output, on: on)
                } catch {
                    let skipped = Array(actions[(index + 1)...])
                    update { $0.driveFailed(output, error: "\(error)", skipped: skipped) }
                    return
                }
            case .requestOutputs(let requests):
                let (requested, failure) = lines.request(requests)
                update { $0.outputsRequested(requested, failure: failure, at: .now) }
            case .retain(let topic, let payload):
                outbox.publish(topic, payload)
            case .publish(let topic, let payload, let qos, let retain):
                client.enqueue(MQTTMessage(topic: topic, payload: payload, qos: qos, retain: retain))
            case .subscribe(let subscriptions):
                client.subscribe(subscriptions, loggingAnswersTo: logger)
            case .unsubscribe(let filters):
                _ = client.requestUnsubscription(filters)
            case .readSensor(let name, let round):
                read(name, round: round)
            case .log(let level, let message, let metadata):
                logger.log(level: level, "\(message)", metadata: metadata)
            }
        }
    }

    private func setTimer() {
        guard !stopping, let deadline = withCore({ $0.nextDeadline() }) else { return }
        let bound = self.bound
        timer.follow(deadline, on: eventLoop) { bound.value.timerFired() }
    }

    // MARK: Inputs and sensors

    /// Watches the edges of `inputs`: the watching thread posts them to the loop, a burst at a time.
    private func watch(_ inputs: [String]) {
        guard let lines else { return }
        let bound = self.bound
        for name in inputs {
            let mailbox = EdgeMailbox(loop: eventLoop) { edges, dropped in bound.value.edges(name, edges, dropped: dropped) }
            do {
                try lines.watchEdges(of: name, EdgeSink(edge: mailbox.post))
            } catch {
                logger.error("cannot watch \(name): \(error)")
            }
        }
    }

    /// Reads a sensor in a task of its own (a conversion takes milliseconds); the result comes
    /// back to the loop.
    private func read(_ name: String, round: Int) {
        guard let settings = profile.sensors.first(where: { $0.name == name }) else { return }
        let driver: any Sensor
        if let open = sensors[name] {
            driver = open
        } else {
            do {
                driver = try makeSensor(settings.model, bus: hardware.openBus(settings.bus), address: settings.address, options: settings.options)
                sensors[name] = driver
            } catch {
                update { $0.sensorUnavailable(name, error: error) }
                return
            }
        }
        let bound = self.bound
        let loop = eventLoop
        sensorReads[name] = Task {
            let result: Result<[SensorReading], any Error>
            do {
                result = .success(try await driver.read())
            } catch is CancellationError {
                return
            } catch {
                result = .failure(error)
            }
            loop.execute { bound.value.sensorDone(name, round: round, result) }
        }
    }
}
