import JSON
import MQTTCore
import Profile
import Scheme

/// The relay's whole state as a value type on the caller's clock: the mirrored boards, the boards
/// that announce themselves, the links, and both brokers' reachability. Its mutating methods take
/// what happened and return what to publish, send and subscribe; ``RelayService`` carries that
/// out. Tested without a broker.
public struct RelayCore: Sendable {
    /// Something the relay service must do.
    public enum Action: Sendable, Equatable {
        /// A retained state on the fleet broker (a newer one for the topic replaces it). A board's
        /// report, and what a command causes, go on with the QoS they came with; what the relay
        /// states on its own (availability, info, states again after a reconnect) with QoS 1.
        case retain(topic: String, payload: String, qos: QoS = .atLeastOnce)
        /// A message on the fleet broker, not retained.
        case publish(topic: String, payload: String, qos: QoS)
        /// A message to a board, on the boards' broker: a command with the QoS it came with, what
        /// the relay asks on its own with QoS 1.
        case send(topic: String, payload: String, qos: QoS = .atLeastOnce)
        /// Topic filters to subscribe to on the boards' broker (without hearing our own messages back).
        case subscribeBoards([String])
        /// Topic filters of a board no longer mirrored.
        case unsubscribeBoards([String])
        /// Command topics to subscribe to on the fleet broker, without what the broker retains
        /// there: a retained command never moves a board's output.
        case subscribeCommands([String])
        /// Other topic filters to subscribe to on the fleet broker: linked devices' states, Home
        /// Assistant's status (their retained messages are wanted).
        case subscribeFleet([String])
        /// Something the operator should read in the log.
        case log(String)
    }

    private struct Board: Sendable {
        var definition: BoardDefinition
        var mirror: BoardMirror
        var infoRefresh: ContinuousClock.Instant
        /// While set, the board's Home Assistant config waits for its own announcement (its MAC or
        /// identifiers): Home Assistant merges devices only when it creates one.
        var identityDeadline: ContinuousClock.Instant?
    }

    /// How long a board on the fleet's own broker may be offline before the fleet is told: a
    /// broker shutting down publishes every client's will just before the relay loses it.
    public static let offlineHold = Duration.milliseconds(500)

    /// How long a declared board's Home Assistant config waits for the board's announcement after
    /// the boards' broker is reached; a retained one arrives within milliseconds.
    public static let identityWait = Duration.seconds(3)

    public let profile: RelayProfile
    private let wallOrigin: (instant: ContinuousClock.Instant, unix: Int)
    private var boards: [String: Board] = [:]
    private var owners: [String: String] = [:]
    private var router = TopicRouter<String>()
    private var deadlines = DeadlineQueue()
    private var links: LinkRouter
    private var fleetUp = false
    /// nil until the boards' broker is first reached or first fails.
    private var boardsUp: Bool?
    /// Announced boards: the MAC or node they announced under → the board's name.
    private var tasmotaByMAC: [String: String] = [:]
    private var tasmotaSensors: [String: [TasmotaDialect.SensorField]] = [:]
    private var tasmotaUnits: [String: [String: String]] = [:]
    private var tasmotaAnnouncements: [String: TasmotaAnnouncement] = [:]
    private var esphomeNodes: [String: [ESPHomeAnnouncement]] = [:]
    /// New ESPHome nodes whose configs are still arriving (counted against discover.max_boards).
    private var settlingNodes: Set<String> = []
    /// Command topics whose retained command was already reported: each is reported once.
    private var reportedRetainedCommands: Set<String> = []
    /// Boards this relay mirrored in an earlier run (their retained info names it as `via`) that it
    /// does not mirror now; cleared once, ``staleSweepDelay`` after the fleet is first reached.
    private var staleBoards: [String: DeviceInfo] = [:]
    /// Names an agent of the fleet uses: a board announcing itself under one is not mirrored.
    private var agentNames: Set<String> = []
    private enum SweepState { case notStarted, collecting, done }
    private var sweepState = SweepState.notStarted
    /// Time for retained infos to arrive and for boards that announce themselves to do so again.
    public static let staleSweepDelay = Duration.seconds(10)
    /// The most stale boards remembered until the sweep: a flood of fake infos cannot grow the relay.
    static let maximumStaleBoards = 4096
    /// Refused commands: a few log lines per topic, then a count.
    private var refusals = LogLimiter()
    /// Announcements over a bound: one report a minute per kind, then a count.
    private var overBounds = LogLimiter(burst: 1, window: .seconds(60))

    /// How long an announced ESPHome node without a status topic may be silent: a node with only
    /// switches publishes nothing until one changes, so silence does not mean offline; the
    /// profile can declare the node with a `silence:` of its own.
    static let statuslessNodeSilence = Duration.seconds(365 * 86_400)

    /// The largest announcement read; Tasmota's and ESPHome's are a few kilobytes.
    public static let maximumAnnouncementBytes = 16 * 1024
    /// The most components (relays, sensors, switches) taken from one announced board.
    public static let maximumComponents = 64

    /// Whether the boards live on the fleet's broker (one connection for both).
    private let boardsShareFleetBroker: Bool

    /// `unixNow` is the wall clock at `now`; `seen` times are derived from it.
    /// `boardsShareFleetBroker` defaults to whether the profile names no `boards_broker`.
    public init(profile: RelayProfile, at now: ContinuousClock.Instant, unixNow: Int, boardsShareFleetBroker: Bool? = nil) {
        self.profile = profile
        self.boardsShareFleetBroker = boardsShareFleetBroker ?? (profile.boardsBroker == nil)
        wallOrigin = (now, unixNow)
        links = LinkRouter(profile.links)
        for settings in profile.boards { _ = add(BoardDefinition(settings), at: now) }
        deadlines.set(Self.relayKey, now + DeviceInfo.refreshInterval)
    }

    /// Whether Tasmota announcements are read: to mirror boards that announce themselves, or to
    /// learn the identity and units of declared ones for Home Assistant.
    private var watchesTasmotaAnnouncements: Bool {
        profile.discoverTasmota
            || (profile.homeAssistant.enabled && boards.values.contains { $0.definition.kind == .tasmota && $0.definition.declared })
    }

    /// How many mirrored boards came from announcements (the profile's are not counted).
    private var discoveredBoards: Int { boards.values.count { !$0.definition.declared } }

    /// The names of the mirrored boards, sorted.
    public var boardNames: [String] { boards.keys.sorted() }

    /// A mirrored board's availability, states and values, for tests.
    public func mirror(of board: String) -> BoardMirror? { boards[board]?.mirror }

    // MARK: Starting

    /// What to subscribe to before anything else happens.
    public func start() -> [Action] {
        var boardFilters = boards.values.flatMap { $0.definition.dialect.subscriptions }
        if watchesTasmotaAnnouncements { boardFilters += [TasmotaAnnouncement.configFilter, TasmotaAnnouncement.sensorsFilter] }
        if profile.discoverESPHome {
            boardFilters += ESPHomeAnnouncement.filters
        } else if profile.homeAssistant.enabled {
            // A declared node's own configs carry its identifiers and its sensors' units.
            for board in boards.values {
                if let node = board.definition.dialect as? ESPHomeDialect { boardFilters.append(ESPHomeAnnouncement.filter(node: node.prefix)) }
            }
        }
        let commandFilters = boards.keys.map { commandFilter($0) }
        var fleetFilters = links.endpoints.filter { boards[$0.device] == nil }.map { DeviceTopics(device: $0.device).state($0.name) }
        // Every device's retained info: boards this relay mirrored before and mirrors no more are cleared.
        fleetFilters.append(DeviceTopics(device: "+").info)
        if profile.homeAssistant.enabled { fleetFilters.append("\(profile.homeAssistant.prefix)/status") }
        return [
            .subscribeBoards(unique(boardFilters)), .subscribeCommands(commandFilters.sorted()),
            .subscribeFleet(unique(fleetFilters).sorted()),
        ]
    }

    /// The fleet broker connected: the relay's status and info, then every board's.
    public mutating func fleetConnected(at now: ContinuousClock.Instant) -> [Action] {
        fleetUp = true
        if sweepState == .notStarted {
            sweepState = .collecting
            deadlines.set(Self.sweepKey, now + Self.staleSweepDelay)
        }
        var actions: [Action] = [.retain(topic: relayTopic("status"), payload: SchemeWord.online), relayInfo(at: now)]
        if profile.homeAssistant.enabled { actions.append(relayHomeAssistant) }
        for name in boards.keys.sorted() { actions += announce(name) }
        return actions
    }

    /// The fleet broker was lost: info refreshes wait for its return.
    public mutating func fleetLost() {
        fleetUp = false
    }

    /// The relay stops: every board is offline as far as the fleet can tell, then the relay.
    public mutating func shutdown(at now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for name in boards.keys.sorted() {
            actions.append(.retain(topic: topic(name, "status"), payload: SchemeWord.offline))
            actions.append(info(name))
        }
        return actions + [relayInfo(at: now), .retain(topic: relayTopic("status"), payload: SchemeWord.offline)]
    }

    // MARK: The boards' broker

    /// The boards' broker connected (up) or was lost: boards behind it are offline to the fleet. When
    /// the fleet is lost first (one broker for both), the boards are unknown until they speak again
    /// rather than offline, so a broker restart does not flap them.
    public mutating func boardsBroker(up: Bool, at now: ContinuousClock.Instant) -> [Action] {
        guard up != boardsUp else { return [] }
        let returned = up && boardsUp == false
        boardsUp = up
        if up {
            // Announcements can arrive only now: the wait for them starts again.
            for name in boards.keys where boards[name]!.identityDeadline != nil {
                boards[name]!.identityDeadline = now + Self.identityWait
                touch(name)
            }
        }
        var actions: [Action] = []
        // Subscribing again brings the retained LWTs and statuses back, even if the broker kept our session.
        if returned, case .subscribeBoards(let filters)? = start().first { actions.append(.subscribeBoards(filters)) }
        for name in boards.keys.sorted() {
            let fleetHears = fleetUp || !boardsShareFleetBroker
            actions += carryOut(boards[name]!.mirror.boardBroker(up: up, fleetHears: fleetHears, at: now), for: name, at: now)
        }
        return actions
    }

    /// A message on the boards' broker, delivered with `qos`.
    public mutating func boardMessage(topic: String, payload: String, qos: QoS = .atLeastOnce, at now: ContinuousClock.Instant) -> [Action] {
        let tasmota = watchesTasmotaAnnouncements
        let tasmotaConfig = tasmota ? TasmotaAnnouncement.mac(in: topic, suffix: "config") : nil
        let tasmotaSensors = tasmota ? TasmotaAnnouncement.mac(in: topic, suffix: "sensors") : nil
        let esphome = (profile.discoverESPHome || profile.homeAssistant.enabled) && topic.hasPrefix("homeassistant/")
        if tasmotaConfig != nil || tasmotaSensors != nil || esphome, payload.utf8.count > Self.maximumAnnouncementBytes {
            return overBound(
                .size, "\(topic) is \(payload.utf8.count) bytes, over the \(Self.maximumAnnouncementBytes) an announcement may have; it is ignored",
                at: now)
        }
        if let mac = tasmotaConfig { return self.tasmotaConfig(mac: mac, payload: payload, at: now) }
        if let mac = tasmotaSensors { return tasmotaSensorsAnnounced(mac: mac, payload: payload, at: now) }
        if esphome { return esphomeConfig(topic: topic, payload: payload, at: now) }
        var actions: [Action] = []
        let owners = router.owners(of: topic)
        for name in owners.count > 1 ? owners.sorted() : owners {
            actions += carryOut(boards[name]!.mirror.received(topic: topic, payload: payload, at: now), for: name, at: now, qos: qos)
        }
        return actions
    }

    // MARK: The fleet's broker

    /// A message on the fleet broker: a command for a board, a linked device's state, or Home
    /// Assistant coming online. `qos` is the QoS it was delivered with: only QoS 1 and 2
    /// commands wait for an unavailable board. A command from the broker's retained store
    /// (`retained`) is never carried out: it is reported once per topic with how to clear it.
    public mutating func fleetMessage(
        topic: String, payload: String, qos: QoS = .atLeastOnce, retained: Bool = false,
        at now: ContinuousClock.Instant
    ) -> [Action] {
        if profile.homeAssistant.enabled, topic == HomeAssistantDiscovery.statusTopic(prefix: profile.homeAssistant.prefix) {
            guard payload == SchemeWord.online else { return [] }
            return [relayHomeAssistant] + boards.keys.sorted().flatMap { homeAssistant($0) } + boards.keys.sorted().flatMap { states($0) }
        }
        // With one broker for both, every board message comes here too: it leaves before any work.
        guard topic.hasPrefix(Self.schemePrefix) else { return [] }
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard levels.count >= 3 else { return [] }
        let device = String(levels[1])
        if levels.count == 3, levels[2] == "info" { return noteInfo(device: device, payload: payload) }
        if levels.count == 4, levels[3] == "set", boards[device] != nil {
            if retained {
                guard reportedRetainedCommands.insert(topic).inserted else { return [] }
                return refuse(device, topic: topic, payload: payload, reason: CommandRefusal.retained(topic), at: now)
            }
            return command(payload: payload, board: device, name: String(levels[2]), topic: topic, qos: qos, at: now)
        }
        if levels.count == 3, boards[device] == nil, let on = stateWord(payload.trimmingWhitespace()) {
            return follow(links.observed(.init(device: device, name: String(levels[2])), on: on, at: now), at: now)
        }
        return []
    }

    /// A message on the fleet broker too large to read was skipped: a command for a board is
    /// refused on the board's error topic; anything else only had its log line.
    public mutating func skippedFleetMessage(topic: String, size: Int, limit: Int, at now: ContinuousClock.Instant) -> [Action] {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard levels.count == 4, levels[0] == DeviceTopics.root, levels[3] == "set", boards[String(levels[1])] != nil else { return [] }
        return refuse(
            String(levels[1]), topic: topic, payload: "",
            reason: CommandRefusal.oversized(size: size, limit: limit), at: now)
    }

    // MARK: Time

    /// Silent boards go offline, waiting commands expire, and online boards refresh their info.
    public mutating func tick(at now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        // Every due key is taken off first and runs once; each reschedules itself. A key still due
        // after it ran waits for the next tick instead of holding up the others.
        var due: [String] = []
        while let (at, name) = deadlines.earliest(), at <= now {
            deadlines.set(name, nil)
            due.append(name)
        }
        for name in due {
            if name == Self.relayKey {
                deadlines.set(Self.relayKey, now + DeviceInfo.refreshInterval)
                if fleetUp { actions.append(relayInfo(at: now)) }
                continue
            }
            if name == Self.sweepKey {
                actions += sweepStaleBoards()
                continue
            }
            if name.hasPrefix(Self.nodeKey("")) {
                let node = String(name.dropFirst(Self.nodeKey("").count))
                settlingNodes.remove(node)
                actions += defineESPHome(node, at: now)
                continue
            }
            if name == Self.summaryKey {
                for summary in refusals.expire(at: now) {
                    actions.append(
                        .log("\(summary.suppressed) more lines like \"\(summary.key)\" were left out of the log in the last \(refusals.window)"))
                }
                for summary in overBounds.expire(at: now) {
                    actions += reportError(
                        "\(summary.suppressed) more announcements were not taken (\(summary.key)) in the last \(overBounds.window)")
                }
                scheduleSummaries()
                continue
            }
            // An earlier key of this tick may have forgotten the board.
            guard boards[name] != nil else { continue }
            if boards[name]!.infoRefresh <= now {
                boards[name]!.infoRefresh = now + DeviceInfo.refreshInterval
                if fleetUp { actions.append(info(name)) }
            }
            if let deadline = boards[name]!.identityDeadline, deadline <= now {
                boards[name]!.identityDeadline = nil
                actions.append(
                    .log(
                        "\(name): the board did not announce itself within \(Self.identityWait); Home Assistant gets it without its own identity, so it may list the board twice"
                    ))
                if fleetUp { actions += homeAssistant(name) }
            }
            actions += carryOut(boards[name]!.mirror.tick(at: now), for: name, at: now)
        }
        return actions
    }

    /// When ``tick(at:)`` is next needed.
    public mutating func nextDeadline() -> ContinuousClock.Instant? {
        deadlines.earliest()?.at
    }

    /// The start of every topic of the scheme.
    private static let schemePrefix = DeviceTopics.root + "/"

    /// The relay's own deadline (refreshing its info) in the queue; no board is called "".
    private static let relayKey = ""
    /// When the log limiters' counts are due; no board name has a space.
    private static let summaryKey = " summaries"
    /// When boards no longer mirrored are cleared.
    private static let sweepKey = " sweep"

    private mutating func scheduleSummaries() {
        deadlines.set(Self.summaryKey, [refusals.nextDeadline, overBounds.nextDeadline].compactMap { $0 }.min())
    }

    /// Files `board`'s next deadline after its mirror changed.
    private mutating func touch(_ board: String) {
        guard let index = boards.index(forKey: board) else { return deadlines.set(board, nil) }
        deadlines.set(board, Self.nextDeadline(of: boards.values[index]))
    }

    /// Borrows the board (a copy would retain all it holds, on every message).
    private static func nextDeadline(of board: Board) -> ContinuousClock.Instant {
        var next = board.infoRefresh
        if let mirror = board.mirror.nextDeadline, mirror < next { next = mirror }
        if let identity = board.identityDeadline, identity < next { next = identity }
        return next
    }

    // MARK: Commands

    private mutating func command(
        payload: String, board: String, name: String, topic: String, qos: QoS = .atLeastOnce,
        at now: ContinuousClock.Instant
    ) -> [Action] {
        let command: OutputCommand
        do {
            command = try OutputCommand(payload: payload)
        } catch {
            return refuse(board, topic: topic, payload: payload, reason: "\(error)", at: now)
        }
        let actions = boards[board]!.mirror.command(command, for: name, qos: qos, at: now)
        return carryOut(actions, for: board, at: now, command: (topic, payload), qos: qos)
    }

    /// Carries out what links ask: a mirrored board's output is commanded directly; another
    /// device's through its command topic.
    private mutating func follow(_ commands: [LinkRouter.Command], at now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for command in commands {
            let payload = SchemeWord.state(command.on)
            let topic = DeviceTopics(device: command.target.device).command(command.target.name)
            if boards[command.target.device] != nil {
                actions.append(.log("link: \(command.target) \(payload)"))
                actions += self.command(payload: payload, board: command.target.device, name: command.target.name, topic: topic, at: now)
            } else {
                actions.append(.publish(topic: topic, payload: payload, qos: .atLeastOnce))
            }
        }
        return actions
    }

    /// Turns a board's mirror actions into broker actions; states and values go on with `qos`,
    /// that of the message that caused them.
    private mutating func carryOut(
        _ mirrorActions: [BoardMirror.Action], for board: String, at now: ContinuousClock.Instant,
        command: (topic: String, payload: String)? = nil, qos: QoS = .atLeastOnce
    ) -> [Action] {
        touch(board)
        var actions: [Action] = []
        for action in mirrorActions {
            switch action {
            case .publishAvailability(let online):
                actions.append(.retain(topic: topic(board, "status"), payload: online ? SchemeWord.online : SchemeWord.offline))
                actions.append(info(board))
            case .publishState(let name, let on):
                actions.append(.retain(topic: topic(board, name), payload: SchemeWord.state(on), qos: qos))
                actions += follow(links.observed(.init(device: board, name: name), on: on, at: now), at: now)
            case .publishValue(let name, let value):
                // Retained as states are, so a dashboard that subscribes late sees it; no reading clears it.
                actions.append(.retain(topic: topic(board, name), payload: value ?? "", qos: qos))
            case .send(let message):
                actions.append(.send(topic: message.topic, payload: message.payload, qos: message.qos))
            case .refuse(let name, let reason):
                if let command, name != "board" {
                    actions += refuse(board, topic: command.topic, payload: command.payload, reason: reason, at: now)
                } else {
                    actions.append(.log("\(board): \(name): \(reason)"))
                    actions.append(.publish(topic: topic(board, "error"), payload: ErrorReport(source: name, error: reason).json, qos: .atLeastOnce))
                }
            }
        }
        return actions
    }

    /// A refused command: always answered on the board's error topic; logged a few times a window
    /// per topic, then counted, so a flood of bad commands cannot flood the log.
    private mutating func refuse(
        _ board: String, topic commandTopic: String, payload: String, reason: String,
        at now: ContinuousClock.Instant
    ) -> [Action] {
        var actions: [Action] = []
        if refusals.admit("\(board): refused \(commandTopic)", at: now) {
            actions.append(.log("\(board): refused \(commandTopic) \(quotedExcerpt(payload)): \(reason)"))
        } else {
            scheduleSummaries()
        }
        return actions + [
            .publish(topic: topic(board, "error"), payload: ErrorReport(topic: commandTopic, payload: payload, error: reason).json, qos: .atLeastOnce)
        ]
    }

    /// Kinds of announcement the relay does not take.
    private enum Bound: String {
        case boards = "over discover.max_boards"
        case size = "too large"
        case components = "too many components"
        case malformed = "not understood"
        case name = "name taken"
    }

    /// An announcement over a bound: the first of each kind in a minute is logged and put on the
    /// relay's error topic; the rest are counted for one summary.
    private mutating func overBound(_ bound: Bound, _ text: String, at now: ContinuousClock.Instant) -> [Action] {
        guard overBounds.admit(bound.rawValue, at: now) else {
            scheduleSummaries()
            return []
        }
        return reportError(text)
    }

    private func reportError(_ text: String) -> [Action] {
        [
            .log(text),
            .publish(topic: relayTopic("error"), payload: ErrorReport(source: "discovery", error: text).json, qos: .atLeastOnce),
        ]
    }

    // MARK: Boards that announce themselves

    private mutating func tasmotaConfig(mac: String, payload: String, at now: ContinuousClock.Instant) -> [Action] {
        if payload.isEmpty {
            tasmotaAnnouncements[mac] = nil
            tasmotaSensors[mac] = nil
            tasmotaUnits[mac] = nil
            return tasmotaByMAC.removeValue(forKey: mac).map { forget($0) } ?? []
        }
        let announcement: TasmotaAnnouncement
        do {
            announcement = try TasmotaAnnouncement(mac: mac, payload: payload)
        } catch {
            return overBound(.malformed, "tasmota/discovery/\(mac)/config is not understood: \(error)", at: now)
        }
        var actions: [Action] = []
        if announcement.ignoredRelays > 0 {
            actions += overBound(
                .components,
                "tasmota/discovery/\(mac)/config announces \(announcement.ignoredRelays) relays beyond POWER\(TasmotaAnnouncement.maximumRelays); they are ignored",
                at: now)
        }
        tasmotaAnnouncements[mac] = announcement
        return actions + defineTasmota(mac: mac, at: now)
    }

    private mutating func tasmotaSensorsAnnounced(mac: String, payload: String, at now: ContinuousClock.Instant) -> [Action] {
        guard !payload.isEmpty else { return [] }
        // Sensors usually follow their config; ahead of one, only as many are kept as boards may be.
        guard tasmotaAnnouncements[mac] != nil || tasmotaSensors[mac] != nil || tasmotaSensors.count < profile.maximumDiscoveredBoards else {
            return overBound(
                .boards,
                "tasmota/discovery/\(mac)/sensors came before its config while \(profile.maximumDiscoveredBoards) boards wait or are mirrored (discover.max_boards); it is ignored",
                at: now)
        }
        var actions: [Action] = []
        do {
            let fields = try TasmotaAnnouncement.sensorFields(payload: payload)
            if fields.count > Self.maximumComponents {
                actions += overBound(
                    .components,
                    "tasmota/discovery/\(mac)/sensors announces \(fields.count) readings; the first \(Self.maximumComponents) are mirrored", at: now)
            }
            tasmotaSensors[mac] = Array(fields.prefix(Self.maximumComponents))
            tasmotaUnits[mac] = TasmotaAnnouncement.units(payload: payload)
        } catch {
            return overBound(.malformed, "tasmota/discovery/\(mac)/sensors is not understood: \(error)", at: now)
        }
        return tasmotaAnnouncements[mac] == nil ? actions : actions + defineTasmota(mac: mac, at: now)
    }

    private mutating func defineTasmota(mac: String, at now: ContinuousClock.Instant) -> [Action] {
        guard let announcement = tasmotaAnnouncements[mac] else { return [] }
        var definition = BoardDefinition(
            name: tasmotaByMAC[mac] ?? boardName(announcement.topic), kind: .tasmota,
            dialect: announcement.dialect(sensors: tasmotaSensors[mac] ?? [], units: tasmotaUnits[mac] ?? [:]),
            declared: false)
        definition.connections = [("mac", mac.lowercased())]
        let actions = define(definition, at: now)
        // Only a board mirrored under this announcement is forgotten when it is withdrawn.
        if let board = boards[definition.name], !board.definition.declared, board.definition.identity == definition.identity {
            tasmotaByMAC[mac] = definition.name
        } else if owners[definition.identity].flatMap({ boards[$0] })?.definition.declared != true {
            // Not mirrored (over a bound, or its name is taken): nothing of it is kept.
            tasmotaAnnouncements[mac] = nil
            tasmotaSensors[mac] = nil
            tasmotaUnits[mac] = nil
        }
        return actions
    }

    private mutating func esphomeConfig(topic: String, payload: String, at now: ContinuousClock.Instant) -> [Action] {
        let announcement: ESPHomeAnnouncement?
        do {
            announcement = try ESPHomeAnnouncement(topic: topic, payload: payload)
        } catch {
            return overBound(.malformed, "\(topic) is not understood: \(error)", at: now)
        }
        let levels = topic.split(separator: "/")
        guard levels.count == 5 else { return [] }
        let node = String(levels[2])
        var components = esphomeNodes[node] ?? []
        components.removeAll { $0.component.rawValue == levels[1] && $0.objectID == levels[3] }
        if let announcement {
            if components.isEmpty, esphomeNodes[node] == nil, boards[boardName(node)]?.definition.declared != true,
                discoveredBoards + settlingNodes.count >= profile.maximumDiscoveredBoards
            {
                return overBound(
                    .boards,
                    "ESPHome node \(node) announced itself, but \(profile.maximumDiscoveredBoards) announced boards are mirrored already (discover.max_boards); it is not mirrored",
                    at: now)
            }
            guard components.count < Self.maximumComponents else {
                return overBound(
                    .components, "ESPHome node \(node) announces more than \(Self.maximumComponents) components; \(topic) is ignored", at: now)
            }
            components.append(announcement)
        }
        guard components != (esphomeNodes[node] ?? []) else { return [] }
        esphomeNodes[node] = components.isEmpty ? nil : components
        guard !components.isEmpty else {
            // Every component withdrawn: the node is gone (unless the profile declares it).
            let name = boardName(node)
            deadlines.set(Self.nodeKey(node), nil)
            settlingNodes.remove(node)
            return boards[name]?.definition.declared == false ? forget(name) : []
        }
        // A new node's retained configs arrive one by one: it is announced once they are read,
        // not with its first component.
        if boards[boardName(node)] == nil {
            if settlingNodes.insert(node).inserted { deadlines.set(Self.nodeKey(node), now + Self.nodeSettle) }
            return []
        }
        return defineESPHome(node, at: now)
    }

    /// Time for a new ESPHome node's other retained configs to arrive after its first.
    static let nodeSettle = Duration.milliseconds(500)
    /// The deadline of a new ESPHome node; no board name has a space.
    private static func nodeKey(_ node: String) -> String { " esphome " + node }

    private mutating func defineESPHome(_ node: String, at now: ContinuousClock.Instant) -> [Action] {
        guard let components = esphomeNodes[node], let prefix = components.first?.prefix else { return [] }
        func entities(_ kind: ESPHomeAnnouncement.Component) -> [ESPHomeDialect.Entity] {
            components.filter { $0.component == kind }.map {
                .init(
                    name: boardName($0.objectID), id: $0.objectID, description: $0.description, label: $0.label,
                    stateTopic: $0.customStateTopic, commandTopic: $0.customCommandTopic)
            }
            .sorted { $0.name < $1.name }
        }
        let dialect = ESPHomeDialect(
            prefix: prefix, switches: entities(.switch), binarySensors: entities(.binarySensor),
            sensors: entities(.sensor))
        // A node with birth and will off has no status: it is online once heard from.
        let silent = !components.contains { $0.announcesStatus }
        var definition = BoardDefinition(
            name: boardName(node), kind: .esphome, dialect: dialect,
            silenceLimit: silent ? Self.statuslessNodeSilence : nil, declared: false)
        definition.identifiers = components.first?.identifiers ?? []
        let isNew = boards[definition.name] == nil
        var actions = define(definition, at: now)
        if silent, isNew, boards[definition.name]?.definition.declared == false {
            actions.append(
                .log(
                    "ESPHome node \(node) announces no status topic (its birth and will are off): it counts as online once heard from; declare it with esphome: {node: \(node), silence: 5m} to have silence mean offline"
                ))
        }
        return actions
    }

    /// Adds an announced board, or updates one announced before, keeping what its mirror knows.
    /// A board the profile declares keeps the profile's names; its announcement only tells Home
    /// Assistant which device it is.
    private mutating func define(_ definition: BoardDefinition, at now: ContinuousClock.Instant) -> [Action] {
        if let owner = owners[definition.identity], let board = boards[owner], board.definition.declared {
            let before = homeAssistantAnnouncement(owner).config
            let waited = board.identityDeadline != nil
            boards[owner]!.definition.connections = definition.connections
            boards[owner]!.definition.identifiers = definition.identifiers
            boards[owner]!.identityDeadline = nil
            if let described = described(board.definition.dialect, by: definition.dialect) {
                boards[owner]!.definition.dialect = described
                boards[owner]!.mirror.redefine(described)
            }
            touch(owner)
            guard fleetUp, waited || homeAssistantAnnouncement(owner).config != before else { return [] }
            return homeAssistant(owner)
        }
        // Announcements are read for declared boards; others are mirrored only if the profile asks.
        guard definition.kind == .tasmota ? profile.discoverTasmota : profile.discoverESPHome else { return [] }
        let name = definition.name
        guard name != profile.id else {
            return overBound(
                .name, "a \(definition.kind.rawValue) board announced itself as \(name), the relay's own id; it is not mirrored", at: now)
        }
        guard !agentNames.contains(name) else {
            return overBound(
                .name, "a \(definition.kind.rawValue) board announced itself as \(name), which an agent of the fleet is; it is not mirrored", at: now)
        }
        if let existing = boards[name] {
            guard !existing.definition.declared else {
                return overBound(
                    .name, "a board announced itself as \(name), which the profile already uses for another board; it is not mirrored", at: now)
            }
            let oldFilters = existing.definition.dialect.subscriptions
            boards[name]!.definition = definition
            boards[name]!.mirror.redefine(definition.dialect)
            router.remove(name)
            for filter in definition.dialect.subscriptions { router.add(filter, owner: name) }
            var actions: [Action] = []
            let added = definition.dialect.subscriptions.filter { !oldFilters.contains($0) }
            if !added.isEmpty { actions.append(.subscribeBoards(added)) }
            return actions + (fleetUp ? [info(name)] + homeAssistant(name) : [])
        }
        guard discoveredBoards < profile.maximumDiscoveredBoards else {
            return overBound(
                .boards,
                "a \(definition.kind.rawValue) board announced itself as \(name), but \(profile.maximumDiscoveredBoards) announced boards are mirrored already (discover.max_boards); it is not mirrored",
                at: now)
        }
        let actions = add(definition, at: now)
        return [.log("mirroring \(definition.kind.rawValue) board \(name), which announced itself")] + actions
            + (fleetUp ? announce(name) : [])
    }

    /// A declared board's dialect with what its announcement says of its sensors' units.
    private func described(_ declared: any BoardDialect, by announced: any BoardDialect) -> (any BoardDialect)? {
        switch (declared, announced) {
        case (var tasmota as TasmotaDialect, let other as TasmotaDialect):
            tasmota.units = other.units
            return tasmota
        case (let node as ESPHomeDialect, let other as ESPHomeDialect): return node.described(by: other)
        default: return nil
        }
    }

    private mutating func add(_ definition: BoardDefinition, at now: ContinuousClock.Instant) -> [Action] {
        let name = definition.name
        let buffer = BoardMirror.Buffer(capacity: profile.bufferCapacity, maximumAge: .milliseconds(profile.bufferMaximumAgeMilliseconds))
        var mirror = BoardMirror(
            dialect: definition.dialect, silenceLimit: definition.silenceLimit, buffer: buffer, watchingSince: now,
            offlineHold: boardsShareFleetBroker ? Self.offlineHold : nil)
        // Behind an unreachable broker a board is offline, whatever the fleet was last told.
        let availability = boardsUp == false ? mirror.boardBroker(up: false, at: now) : []
        let waitsForIdentity = definition.declared && profile.homeAssistant.enabled && definition.kind != .pubsubclient
        boards[name] = Board(
            definition: definition, mirror: mirror, infoRefresh: now + DeviceInfo.refreshInterval,
            identityDeadline: waitsForIdentity ? now + Self.identityWait : nil)
        owners[definition.identity] = name
        for filter in definition.dialect.subscriptions { router.add(filter, owner: name) }
        touch(name)
        return [.subscribeBoards(definition.dialect.subscriptions), .subscribeCommands([commandFilter(name)])]
            + carryOut(availability, for: name, at: now)
    }

    /// A device's info on the fleet broker. An agent's under the name of a mirrored board: the
    /// board is no longer mirrored. One naming this relay for a board it does not mirror (any
    /// more) is remembered until the sweep.
    private mutating func noteInfo(device: String, payload: String) -> [Action] {
        // Every device's info arrives here; only a mirrored board's, or any during the sweep, is read.
        guard boards[device] != nil || sweepState == .collecting else { return [] }
        let info = (try? JSONValue(parsing: payload)).flatMap { DeviceInfo(json: $0) }
        if let info, info.kind == "agent", info.via == nil, boards[device] != nil {
            return giveWay(device, agentInfo: payload)
        }
        guard sweepState == .collecting else { return [] }
        guard let info, info.via == profile.id, boards[device] == nil, device != profile.id else {
            staleBoards[device] = nil
            return []
        }
        if staleBoards.count < Self.maximumStaleBoards || staleBoards[device] != nil { staleBoards[device] = info }
        return []
    }

    /// An agent of the fleet is the device `name` too: two devices would write its topics, so the
    /// board is no longer mirrored, and the agent's info, which the board's replaced, is put back.
    private mutating func giveWay(_ name: String, agentInfo: String) -> [Action] {
        guard let board = boards.removeValue(forKey: name) else { return [] }
        owners[board.definition.identity] = nil
        router.remove(name)
        touch(name)
        agentNames.insert(name)
        return [.unsubscribeBoards(board.definition.dialect.subscriptions), .retain(topic: topic(name, "info"), payload: agentInfo)]
            + reportError(
                "\(name) is the device id of an agent of the fleet as well as of a \(board.definition.kind.rawValue) board; the board is no longer mirrored, so that the two do not write one another's topics: give one of them another name"
            )
    }

    /// Clears what this relay once published for boards it no longer mirrors: `fleet ls` and Home
    /// Assistant stop listing them.
    private mutating func sweepStaleBoards() -> [Action] {
        sweepState = .done
        let stale = staleBoards.filter { boards[$0.key] == nil }
        staleBoards = [:]
        guard !stale.isEmpty else { return [] }
        var actions: [Action] = [
            .log(
                "cleared \(stale.count) board\(stale.count == 1 ? "" : "s") this relay no longer mirrors: \(stale.keys.sorted().joined(separator: ", "))"
            )
        ]
        for (name, info) in stale.sorted(by: { $0.key < $1.key }) {
            // The names come from a retained message anyone could have written: only plain names, and not too many.
            let names = (info.outputs + info.inputs + info.sensors).filter { !$0.isEmpty && boardName($0) == $0 }.prefix(Self.maximumComponents * 3)
            for topicName in ["status", "info"] + names { actions.append(.retain(topic: topic(name, topicName), payload: "")) }
            actions.append(.retain(topic: "\(profile.homeAssistant.prefix)/device/gpiobridge_\(name)/config", payload: ""))
        }
        return actions
    }

    /// A board withdrew its announcement: it is no longer mirrored, and its retained topics go.
    private mutating func forget(_ name: String) -> [Action] {
        guard boards[name]?.definition.declared == false, let board = boards.removeValue(forKey: name) else { return [] }
        owners[board.definition.identity] = nil
        router.remove(name)
        touch(name)
        var actions: [Action] = [
            .log("\(name) withdrew its announcement; it is no longer mirrored"),
            .unsubscribeBoards(board.definition.dialect.subscriptions),
        ]
        let dialect = board.definition.dialect
        for topicName in ["status", "info"] + dialect.outputs + dialect.inputs + dialect.sensors {
            actions.append(.retain(topic: topic(name, topicName), payload: ""))
        }
        if profile.homeAssistant.enabled { actions.append(.retain(topic: homeAssistantAnnouncement(name).configTopic, payload: "")) }
        return actions
    }

    // MARK: What the fleet sees

    private func announce(_ name: String) -> [Action] {
        guard let board = boards[name] else { return [] }
        // What the fleet was told, again; a board not heard from within its settle time or silence
        // limit is offline, so a retained online from a run that crashed does not stand.
        var actions: [Action] = []
        if let announced = board.mirror.announcedAvailability {
            actions.append(.retain(topic: topic(name, "status"), payload: announced ? SchemeWord.online : SchemeWord.offline))
        }
        actions.append(info(name))
        return actions + homeAssistant(name) + states(name)
    }

    private func states(_ name: String) -> [Action] {
        guard let board = boards[name] else { return [] }
        return board.mirror.states.keys.sorted().map { .retain(topic: topic(name, $0), payload: SchemeWord.state(board.mirror.states[$0]!)) }
    }

    private func homeAssistant(_ name: String) -> [Action] {
        guard profile.homeAssistant.enabled, let board = boards[name], board.identityDeadline == nil else { return [] }
        let announcement = homeAssistantAnnouncement(name)
        return [.retain(topic: announcement.configTopic, payload: announcement.config.serialized)]
    }

    private func homeAssistantAnnouncement(_ name: String) -> BoardHomeAssistant {
        let definition = boards[name]?.definition
        let dialect = definition?.dialect
        return BoardHomeAssistant(
            board: name, kind: definition?.kind ?? .tasmota, outputs: dialect?.outputs ?? [], inputs: dialect?.inputs ?? [],
            sensors: dialect.map { dialect in dialect.sensors.map { ($0, dialect.description(ofSensor: $0)) } } ?? [],
            labels: dialect.map { dialect in
                Dictionary(
                    (dialect.outputs + dialect.inputs + dialect.sensors).compactMap { name in dialect.label(of: name).map { (name, $0) } },
                    uniquingKeysWith: { first, _ in first })
            } ?? [:],
            connections: definition?.connections ?? [],
            identifiers: definition?.identifiers ?? [], relayID: profile.id,
            prefix: profile.homeAssistant.prefix)
    }

    private func info(_ name: String) -> Action {
        let board = boards[name]!
        let dialect = board.definition.dialect
        let lastSeen = board.mirror.lastSeen.map { unix(at: $0) } ?? 0
        let info = DeviceInfo(
            kind: board.definition.kind.rawValue, name: name, outputs: dialect.outputs, inputs: dialect.inputs,
            sensors: dialect.sensors, via: profile.id, seen: lastSeen)
        return .retain(topic: topic(name, "info"), payload: info.json.serialized)
    }

    /// The relay as a Home Assistant device of its own: the boards name it as their `via_device`,
    /// and its connectivity is an entity.
    private var relayHomeAssistant: Action {
        let identifier = HomeAssistantDiscovery.deviceIdentifier(profile.id)
        let config = JSONValue.object([
            "dev": HomeAssistantDiscovery.device(profile.id, name: profile.id, model: "gpiobridge relay"),
            "o": HomeAssistantDiscovery.origin,
            "qos": .number(1),
            "cmps": .object([
                "connectivity": .object([
                    "p": .string("binary_sensor"), "name": .string("connectivity"), "uniq_id": .string("\(identifier)_connectivity"),
                    "dev_cla": .string("connectivity"), "stat_t": .string(relayTopic("status")), "pl_on": .string(SchemeWord.online),
                    "pl_off": .string(SchemeWord.offline),
                    "qos": .number(1),
                ])
            ]),
        ])
        return .retain(
            topic: HomeAssistantDiscovery.configTopic(prefix: profile.homeAssistant.prefix, device: profile.id), payload: config.serialized)
    }

    private func relayInfo(at now: ContinuousClock.Instant) -> Action {
        .retain(topic: relayTopic("info"), payload: DeviceInfo(kind: "relay", name: profile.id, seen: unix(at: now)).json.serialized)
    }

    private func unix(at instant: ContinuousClock.Instant) -> Int {
        wallOrigin.unix + Int((instant - wallOrigin.instant).components.seconds)
    }

    private func topic(_ board: String, _ suffix: String) -> String { DeviceTopics(device: board).state(suffix) }
    private func relayTopic(_ suffix: String) -> String { DeviceTopics(device: profile.id).state(suffix) }
    private func commandFilter(_ board: String) -> String { DeviceTopics(device: board).commands }

    private func unique(_ filters: [String]) -> [String] {
        var seen: Set<String> = []
        return filters.filter { seen.insert($0).inserted }
    }
}
