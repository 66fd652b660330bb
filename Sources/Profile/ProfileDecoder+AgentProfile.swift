import Hardware
import JSON
import MQTTCore
import Scheme

#if canImport(Glibc)
import Glibc
#endif

// How an agent profile's YAML becomes a Profile: each section decoded, checked and located.

extension ProfileDecoder {
    /// The decoded value, or every issue found, in file order.
    func finish<T>(_ value: T?) throws(ProfileError) -> T {
        guard issues.isEmpty, let value else {
            throw ProfileError(issues: issues.sorted { ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column) })
        }
        return value
    }

    static let sections = [
        "broker", "device", "expanders", "outputs", "inputs", "sensors", "publishers", "subscriptions",
        "safety", "discovery",
    ]

    func profile(_ root: YAMLNode) -> Profile? {
        guard let top = fields(root, path: "", known: Self.sections) else { return nil }
        guard let deviceNode = required(top, "device", hint: "add device: with id: (letters, digits, - and _)") else {
            return nil
        }
        let device = self.device(deviceNode)
        let base = device?.baseTopic ?? DeviceTopics(device: "device").base
        let broker = self.broker(top["broker"], deviceID: device?.id ?? "device")
        let expanders = list(top, "expanders").compactMap { expander($0.node, path: $0.path) }
        let outputs = list(top, "outputs").compactMap { output($0.node, path: $0.path, base: base) }
        let inputs = list(top, "inputs").compactMap { input($0.node, path: $0.path, base: base) }
        let sensors = list(top, "sensors").compactMap { sensor($0.node, path: $0.path, base: base) }
        let publishers = list(top, "publishers").compactMap { publisher($0.node, path: $0.path, base: base) }
        let subscriptions = list(top, "subscriptions").compactMap { subscription($0.node, path: $0.path) }
        let safety = self.safety(top["safety"])
        let discovery = self.discovery(top["discovery"], path: "discovery")
        guard let device, let broker, let safety, let discovery else { return nil }
        var profile = Profile(
            source: file, broker: broker, device: device, expanders: expanders, outputs: outputs, inputs: inputs,
            sensors: sensors, publishers: publishers, subscriptions: subscriptions, safety: safety,
            discovery: discovery)
        crossCheck(&profile)
        return profile
    }

    // MARK: Sections

    func device(_ node: YAMLNode) -> DeviceSettings? {
        guard let fields = fields(node, path: "device", known: ["id", "name", "base_topic"]) else { return nil }
        guard required(fields, "id", hint: "add id: garage-pi (letters, digits, - and _)") != nil, let id = identifier(fields, "id") else {
            return nil
        }
        let baseTopic = topic(fields, "base_topic") ?? DeviceTopics(device: id).base
        if baseTopic.hasSuffix("/") {
            issue(fields, "base_topic", "a base topic must not end with /", hint: "write \(baseTopic.dropLast())")
        }
        return DeviceSettings(id: id, name: string(fields, "name") ?? id, baseTopic: baseTopic)
    }

    func broker(_ node: YAMLNode?, deviceID: String, path: String = "broker") -> BrokerSettings? {
        let defaults = BrokerSettings(
            host: "localhost", port: 1883, tls: nil, username: nil, password: nil,
            clientID: MachineIdentity.defaultClientID(for: deviceID), keepAliveSeconds: 60, version: nil,
            sessionExpirySeconds: 3600, reconnectMinimumMilliseconds: 100, reconnectMaximumMilliseconds: 2000)
        guard let node else { return defaults }
        let known = [
            "host", "port", "tls", "username", "password", "password_file", "password_env", "password_credential",
            "client_id", "keepalive", "protocol", "session_expiry", "reconnect_min", "reconnect_max",
        ]
        guard let fields = fields(node, path: path, known: known) else { return nil }
        var broker = defaults
        broker.host = string(fields, "host") ?? "localhost"
        broker.tls = tls(fields)
        broker.port = int(fields, "port", in: 1...65535) ?? (broker.tls == nil ? 1883 : 8883)
        broker.username = string(fields, "username")
        if fields.has("password") {
            issue(
                fields, "password", "a password is never written in the profile",
                hint:
                    "use password_file: /etc/gpiobridge/mqtt-password, password_env: MQTT_PASSWORD, or password_credential: mqtt-password (systemd LoadCredential)"
            )
        }
        var sources: [PasswordSource] = []
        if let path = string(fields, "password_file").map(besideProfile) {
            sources.append(.file(path))
            checkFile(fields, "password_file", path, what: "the password file")
        }
        if let name = string(fields, "password_env") { sources.append(.environment(name)) }
        if let name = string(fields, "password_credential") { sources.append(.credential(name)) }
        if sources.count > 1 {
            let second = ["password_file", "password_env", "password_credential"].filter { fields.has($0) }[1]
            issue(
                fields, second, "give the password one way only",
                hint: "keep one of password_file, password_env and password_credential")
        }
        broker.password = sources.first
        if broker.password != nil && broker.username == nil {
            issue(at: fields.location, fields.path("username"), "missing: a password needs a user name", hint: "add username:")
        }
        if let clientID = string(fields, "client_id") {
            if clientID.isEmpty || clientID.utf8.count > 65535 {
                issue(fields, "client_id", "a client id must be 1 to 65535 bytes")
            }
            broker.clientID = clientID
        }
        broker.keepAliveSeconds = int(fields, "keepalive", in: 0...65535) ?? 60
        if let version = fields["protocol"] {
            switch version.scalar {
            case "5", "5.0": broker.version = .v5
            case "3.1.1", "311": broker.version = .v3_1_1
            case "auto": broker.version = nil
            default: issue(fields, "protocol", "\(version.summary) is not an MQTT version", hint: "use 5, 3.1.1 or auto")
            }
        }
        if let milliseconds = duration(fields, "session_expiry", in: 0...(Int(UInt32.max) * 1000)) {
            broker.sessionExpirySeconds = UInt32(milliseconds / 1000)
        }
        broker.reconnectMinimumMilliseconds = duration(fields, "reconnect_min", in: 10...60_000) ?? defaults.reconnectMinimumMilliseconds
        broker.reconnectMaximumMilliseconds = duration(fields, "reconnect_max", in: 10...3_600_000) ?? defaults.reconnectMaximumMilliseconds
        if broker.reconnectMaximumMilliseconds < broker.reconnectMinimumMilliseconds {
            issue(
                fields, fields.has("reconnect_max") ? "reconnect_max" : "reconnect_min", "reconnect_max is below reconnect_min",
                hint: "make reconnect_max at least \(Self.formatDuration(broker.reconnectMinimumMilliseconds))")
        }
        return broker
    }

    /// A file the profile names must be there when it runs: missing, it is a located issue now
    /// rather than an agent that exits at start. A file this user may not look at (root's
    /// password file, checked by another user) is left to the agent.
    private func checkFile(_ fields: Fields, _ key: String, _ path: String?, what: String) {
        guard checksFiles, let path else { return }
        let relative = fields[key]?.scalar.map { !$0.hasPrefix("/") } ?? false
        var status = stat()
        if stat(path, &status) == 0 {
            if status.st_mode & S_IFMT == S_IFDIR { issue(fields, key, "\(path) is a directory, not \(what)") }
        } else if errno == ENOENT || errno == ENOTDIR {
            issue(
                fields, key, "\(what) \(path) does not exist",
                hint: relative ? "create it; a relative path is beside the profile" : "create it, or correct the path")
        }
    }

    /// A relative path names a file beside the profile: `mqtt-password` in a profile installed
    /// as /etc/gpiobridge/profile.yml is /etc/gpiobridge/mqtt-password.
    private func besideProfile(_ path: String) -> String {
        guard !path.hasPrefix("/"), let slash = file.lastIndex(of: "/") else { return path }
        return String(file[...slash]) + path
    }

    private func tls(_ broker: Fields) -> TLSSettings? {
        guard let node = broker["tls"] else { return nil }
        if node.scalar != nil {
            return bool(broker, "tls") == true ? TLSSettings(caFile: nil, certificateFile: nil, keyFile: nil, insecure: false) : nil
        }
        guard let fields = fields(node, path: broker.path("tls"), known: ["ca", "cert", "key", "insecure"]) else { return nil }
        let settings = TLSSettings(
            caFile: string(fields, "ca").map(besideProfile), certificateFile: string(fields, "cert").map(besideProfile),
            keyFile: string(fields, "key").map(besideProfile), insecure: bool(fields, "insecure") ?? false)
        checkFile(fields, "ca", settings.caFile, what: "the CA certificate")
        checkFile(fields, "cert", settings.certificateFile, what: "the client certificate")
        checkFile(fields, "key", settings.keyFile, what: "the client key")
        if (settings.certificateFile == nil) != (settings.keyFile == nil) {
            issue(at: fields.location, fields.path, "cert and key go together", hint: "give both cert: and key:, or neither")
        }
        return settings
    }

    func expander(_ node: YAMLNode, path: String) -> ExpanderSettings? {
        guard let fields = fields(node, path: path, known: ["model", "bus", "address", "interrupt"]) else { return nil }
        guard required(fields, "model", hint: "add model: mcp23017 or pcf8574") != nil, let model = choice(fields, "model", ExpanderModel.self),
            required(fields, "bus", hint: "add bus: 1 (N in /dev/i2c-N)") != nil, let bus = int(fields, "bus", in: 0...1023),
            required(fields, "address", hint: "add address: 0x20") != nil, let address = int(fields, "address", in: 0x03...0x77)
        else { return nil }
        let interrupt = line(fields, "interrupt")
        return ExpanderSettings(
            specification: ExpanderSpecification(
                model: model, bus: bus, address: UInt8(address),
                interruptLine: interrupt?.description),
            origin: fields.origin)
    }

    func output(_ node: YAMLNode, path: String, base: String) -> OutputSettings? {
        let known = ["name", "line", "active_low", "drive", "initial", "safe_state", "pulse", "interlock", "topic", "command_topic"]
        guard let fields = fields(node, path: path, known: known) else { return nil }
        let name = required(fields, "name", hint: "add name: relay1").flatMap { _ in identifier(fields, "name") }
        let line = required(fields, "line", hint: "add line: GPIO17 (a line name) or gpiochip0:17").flatMap { _ in self.line(fields, "line") }
        var interlock: [String] = []
        if let node = fields["interlock"] {
            switch node.kind {
            case .scalar(let text, _): interlock = [text]
            case .sequence(let items):
                for item in items {
                    if let text = item.scalar {
                        interlock.append(text)
                    } else {
                        issue(at: item.location, fields.path("interlock"), "expected an output's name, got \(item.summary)")
                    }
                }
            case .mapping: issue(fields, "interlock", "expected a list of output names, got a mapping")
            }
        }
        guard let name, let line else { return nil }
        let stateTopic = topic(fields, "topic") ?? DeviceTopics(base: base).state(name)
        return OutputSettings(
            name: name, line: line, activeLow: bool(fields, "active_low") ?? false, drive: choice(fields, "drive") ?? .pushPull,
            initial: choice(fields, "initial") ?? .off, safeState: choice(fields, "safe_state") ?? .off,
            pulseMilliseconds: duration(fields, "pulse", in: 1...3_600_000), interlock: interlock,
            stateTopic: stateTopic, commandTopic: topic(fields, "command_topic") ?? DeviceTopics.command(forState: stateTopic),
            origin: fields.origin)
    }

    func input(_ node: YAMLNode, path: String, base: String) -> InputSettings? {
        let known = ["name", "line", "bias", "active_low", "edge", "debounce", "on_payload", "off_payload", "topic"]
        guard let fields = fields(node, path: path, known: known) else { return nil }
        let name = required(fields, "name", hint: "add name: button").flatMap { _ in identifier(fields, "name") }
        let line = required(fields, "line", hint: "add line: GPIO27 (a line name) or gpiochip0:27").flatMap { _ in self.line(fields, "line") }
        let edge: LineEdge = choice(fields, "edge") ?? .both
        if edge == .none { issue(fields, "edge", "an input publishes on edges", hint: "use rising, falling or both") }
        guard let name, let line else { return nil }
        return InputSettings(
            name: name, line: line, bias: choice(fields, "bias") ?? .asIs, activeLow: bool(fields, "active_low") ?? false, edge: edge,
            debounceMilliseconds: duration(fields, "debounce", in: 0...1000) ?? 10,
            onPayload: string(fields, "on_payload") ?? SchemeWord.on, offPayload: string(fields, "off_payload") ?? SchemeWord.off,
            stateTopic: topic(fields, "topic") ?? DeviceTopics(base: base).state(name), origin: fields.origin)
    }

    func sensor(_ node: YAMLNode, path: String, base: String) -> SensorSettings? {
        let known = ["name", "model", "bus", "address", "interval", "channel", "full_scale", "shunt_ohms", "max_current", "units", "topic"]
        guard let fields = fields(node, path: path, known: known) else { return nil }
        let name = required(fields, "name", hint: "add name: climate").flatMap { _ in identifier(fields, "name") }
        let model = required(fields, "model", hint: "add model: bme280 (\(SensorModel.allCases.map(\.rawValue).joined(separator: ", ")))")
            .flatMap { _ in choice(fields, "model", SensorModel.self) }
        let bus = required(fields, "bus", hint: "add bus: 1 (N in /dev/i2c-N)").flatMap { _ in int(fields, "bus", in: 0...1023) }
        guard let name, let model, let bus else { return nil }
        var address = model.defaultAddress
        if let value = int(fields, "address", in: 0x03...0x77) {
            if model.addresses.contains(UInt8(value)) {
                address = UInt8(value)
            } else {
                let choices = model.addresses.map(hexByte).joined(separator: " or ")
                issue(fields, "address", "a \(model.rawValue) answers at \(choices), not \(hexByte(UInt8(value)))", hint: "use \(choices)")
            }
        }
        for (key, owner) in [("channel", SensorModel.ads1115), ("full_scale", .ads1115), ("shunt_ohms", .ina219), ("max_current", .ina219)]
        where fields.has(key) && model != owner {
            issue(fields, key, "\(key) applies to the \(owner.rawValue) only", hint: "remove it")
        }
        var options = SensorOptions()
        options.channel = int(fields, "channel", in: 0...3) ?? options.channel
        if let volts = double(fields, "full_scale", above: 0) {
            if ADS1115.ranges.contains(where: { $0.volts == volts }) {
                options.fullScaleVolts = volts
            } else {
                issue(
                    fields, "full_scale", "\(formatReading(volts)) V is not a gain setting",
                    hint: "use one of \(ADS1115.ranges.map { formatReading($0.volts) }.joined(separator: ", "))")
            }
        }
        options.shuntOhms = double(fields, "shunt_ohms", above: 0) ?? options.shuntOhms
        options.maxCurrentAmps = double(fields, "max_current", above: 0) ?? options.maxCurrentAmps
        if model == .ina219, (try? INA219.calibration(shuntOhms: options.shuntOhms, maxCurrentAmps: options.maxCurrentAmps)) == nil {
            issue(
                at: fields.location, fields.path("max_current"), "this shunt and maximum current give no usable calibration",
                hint: "the calibration 0.04096 / (max_current / 32768 × shunt_ohms) must be 1 to 65534")
        }
        return SensorSettings(
            name: name, model: model, bus: bus, address: address, intervalMilliseconds: duration(fields, "interval", in: 100...86_400_000) ?? 60_000,
            options: options, units: units(fields, model: model), stateTopic: topic(fields, "topic") ?? DeviceTopics(base: base).state(name),
            origin: fields.origin)
    }

    /// The unit of each of the model's quantities: as written, else the quantity's default.
    private func units(_ sensorFields: Fields, model: SensorModel) -> [SensorQuantity: MeasurementUnit] {
        let quantities = model.quantities
        var units = Dictionary(uniqueKeysWithValues: quantities.map { ($0, MeasurementUnit.units(for: $0)[0]) })
        guard let node = sensorFields["units"],
            let fields = fields(node, path: sensorFields.path("units"), known: quantities.map(\.rawValue))
        else { return units }
        for quantity in quantities {
            guard let text = string(fields, quantity.rawValue) else { continue }
            let allowed = MeasurementUnit.units(for: quantity)
            if let unit = MeasurementUnit(parsing: text), allowed.contains(unit) {
                units[quantity] = unit
            } else {
                issue(
                    fields, quantity.rawValue, "\"\(text)\" is not a unit of \(quantity.rawValue)",
                    hint: "use \(allowed.map(\.rawValue).joined(separator: ", "))")
            }
        }
        return units
    }

    func publisher(_ node: YAMLNode, path: String, base: String) -> PublisherSettings? {
        let known = ["name", "topic", "interval", "random", "uptime", "text", "qos", "retain", "announce", "unit"]
        guard let fields = fields(node, path: path, known: known) else { return nil }
        let name = required(fields, "name", hint: "add name: number").flatMap { _ in identifier(fields, "name") }
        let interval = required(fields, "interval", hint: "add interval: 3s").flatMap { _ in duration(fields, "interval", in: 100...86_400_000) }
        var values: [PublishedValue] = []
        if let node = fields["random"], let range = self.fields(node, path: fields.path("random"), known: ["min", "max"]) {
            let low = int(range, "min", in: Int(Int32.min)...Int(Int32.max)) ?? 0
            let high = int(range, "max", in: Int(Int32.min)...Int(Int32.max)) ?? 100
            if low > high { issue(fields, "random", "min \(low) is above max \(high)") }
            values.append(.random(min: low, max: max(low, high)))
        }
        if bool(fields, "uptime") == true { values.append(.uptime) }
        if let text = string(fields, "text") { values.append(.constant(text)) }
        if values.count != 1 {
            issue(
                at: fields.location, path, values.isEmpty ? "says nothing to publish" : "says more than one thing to publish",
                hint: "give one of random: {min: 0, max: 100}, uptime: true or text: hello")
        }
        guard let name, let interval, values.count == 1 else { return nil }
        let qos = int(fields, "qos", in: 0...2).flatMap { QoS(rawValue: UInt8($0)) } ?? .atMostOnce
        let announce = bool(fields, "announce") ?? false
        var unit = string(fields, "unit")
        if unit != nil, !announce {
            issue(fields, "unit", "is only used when the publisher is announced", hint: "add announce: true, or remove unit")
        }
        if case .uptime = values[0], announce, unit == nil { unit = "s" }
        if case .constant = values[0], unit != nil {
            issue(fields, "unit", "is for numbers, and this publisher sends text", hint: "remove unit")
        }
        return PublisherSettings(
            name: name, topic: topic(fields, "topic") ?? "\(base)/\(name)", intervalMilliseconds: interval,
            value: values[0], qos: qos, retain: bool(fields, "retain") ?? false, announce: announce, unit: unit,
            origin: fields.origin)
    }

    func subscription(_ node: YAMLNode, path: String) -> SubscriptionSettings? {
        guard let fields = fields(node, path: path, known: ["topic", "qos"]) else { return nil }
        guard required(fields, "topic", hint: "add topic: test") != nil, let text = string(fields, "topic"),
            fitsTopicLength(fields, "topic", text)
        else { return nil }
        guard let filter = TopicFilter(text) else {
            issue(fields, "topic", "\(quotedExcerpt(text)) is not a topic filter", hint: "+ and # stand alone between slashes, and # comes last")
            return nil
        }
        let qos = int(fields, "qos", in: 0...2).flatMap { QoS(rawValue: UInt8($0)) } ?? .atMostOnce
        return SubscriptionSettings(filter: filter, qos: qos, origin: fields.origin)
    }

    func safety(_ node: YAMLNode?) -> SafetySettings? {
        var safety = SafetySettings(brokerGraceMilliseconds: 30_000, safeOnShutdown: true)
        guard let node else { return safety }
        guard let fields = fields(node, path: "safety", known: ["broker_grace", "on_shutdown"]) else { return nil }
        if fields["broker_grace"]?.scalar == "never" {
            safety.brokerGraceMilliseconds = nil
        } else if let grace = duration(fields, "broker_grace", in: 0...86_400_000) {
            safety.brokerGraceMilliseconds = grace
        }
        if let shutdown = fields["on_shutdown"] {
            switch shutdown.scalar {
            case "safe": safety.safeOnShutdown = true
            case "keep": safety.safeOnShutdown = false
            default: issue(fields, "on_shutdown", "\(shutdown.summary) is not safe or keep")
            }
        }
        return safety
    }

    func discovery(_ node: YAMLNode?, path: String) -> DiscoverySettings? {
        var discovery = DiscoverySettings(enabled: false, prefix: "homeassistant")
        guard let node else { return discovery }
        if node.scalar != nil {
            let parent = Fields(path: "", location: node.location, entries: [(path, node, node)])
            discovery.enabled = bool(parent, path) ?? false
            return discovery
        }
        guard let fields = fields(node, path: path, known: ["enabled", "prefix"]) else { return nil }
        discovery.enabled = bool(fields, "enabled") ?? true
        discovery.prefix = topic(fields, "prefix") ?? "homeassistant"
        return discovery
    }

    // MARK: Across sections

    /// Names, lines, topics and addresses must be unique; interlocks must name outputs.
    func crossCheck(_ profile: inout Profile) {
        var names: [String: SettingLocation] = [:]
        /// Items whose name is taken: their derived topics would only repeat the complaint.
        var misnamed: Set<String> = []
        func claimName(_ name: String, _ origin: SettingLocation) {
            if ["status", "error"].contains(name) {
                issue(
                    at: origin.location(of: "name"), "\(origin.path).name", "\"\(name)\" is reserved for the device's \(name) topic",
                    hint: "choose another name")
                misnamed.insert(origin.path)
            } else if let first = names[name] {
                issue(
                    at: origin.location(of: "name"), "\(origin.path).name",
                    "the name \"\(name)\" is already used by \(first.path) (line \(first.location.line))",
                    hint: "names share one topic space; choose another")
                misnamed.insert(origin.path)
            } else {
                names[name] = origin
            }
        }
        for output in profile.outputs { claimName(output.name, output.origin) }
        for input in profile.inputs { claimName(input.name, input.origin) }
        for sensor in profile.sensors { claimName(sensor.name, sensor.origin) }
        for publisher in profile.publishers { claimName(publisher.name, publisher.origin) }

        var lines: [LineReference: SettingLocation] = [:]
        let lineUsers =
            profile.outputs.map { ($0.line, $0.origin, "line") } + profile.inputs.map { ($0.line, $0.origin, "line") }
            + profile.expanders.compactMap { expander in
                expander.specification.interruptLine.map { (LineReference.name($0), expander.origin, "interrupt") }
            }
        for (line, origin, key) in lineUsers {
            if let first = lines[line] {
                issue(
                    at: origin.location(of: key), "\(origin.path).\(key)",
                    "line \(line) is already used by \(first.path) (line \(first.location.line))", hint: "each line belongs to one output or input")
            } else {
                lines[line] = origin
            }
        }

        var topics: [String: String] = [profile.statusTopic: "the device's status", profile.errorTopic: "the device's errors"]
        func claimTopic(_ topic: String, _ key: String, _ owner: String, _ origin: SettingLocation) {
            guard !misnamed.contains(origin.path) else { return }
            if let first = topics[topic] {
                issue(
                    at: origin.location(of: key), "\(origin.path).\(key)", "the topic \(topic) is already used by \(first)",
                    hint: "give it its own topic")
            } else {
                topics[topic] = owner
            }
        }
        for output in profile.outputs {
            claimTopic(output.stateTopic, "topic", output.origin.path, output.origin)
            claimTopic(output.commandTopic, "command_topic", "\(output.origin.path) commands", output.origin)
        }
        for input in profile.inputs { claimTopic(input.stateTopic, "topic", input.origin.path, input.origin) }
        for sensor in profile.sensors { claimTopic(sensor.stateTopic, "topic", sensor.origin.path, sensor.origin) }
        for publisher in profile.publishers { claimTopic(publisher.topic, "topic", publisher.origin.path, publisher.origin) }
        for publisher in profile.publishers where publisher.announce && !profile.discovery.enabled {
            issue(
                at: publisher.origin.location(of: "announce"), "\(publisher.origin.path).announce",
                "announces the publisher to Home Assistant, but discovery is off", hint: "add discovery: true, or remove announce")
        }

        var devices: [String: String] = [:]
        let i2cUsers =
            profile.sensors.map { ($0.bus, $0.address, $0.origin) }
            + profile.expanders.map { ($0.specification.bus, $0.specification.address, $0.origin) }
        for (bus, address, origin) in i2cUsers {
            let key = "\(bus):\(address)"
            if let first = devices[key] {
                issue(
                    at: origin.location(of: "address"), "\(origin.path).address",
                    "\(hexByte(address)) on bus \(bus) is already used by \(first)", hint: "each I2C address holds one device")
            } else {
                devices[key] = origin.path
            }
        }

        let outputNames = profile.outputs.map(\.name)
        for index in profile.outputs.indices {
            let output = profile.outputs[index]
            for other in output.interlock {
                if other == output.name {
                    issue(
                        at: output.origin.location(of: "interlock"), "\(output.origin.path).interlock",
                        "an output cannot be interlocked with itself")
                } else if !outputNames.contains(other) {
                    issue(
                        at: output.origin.location(of: "interlock"), "\(output.origin.path).interlock", "no output is named \"\(other)\"",
                        hint: closestMatch(to: other, in: outputNames).map { "did you mean \($0)?" }
                            ?? "outputs: \(outputNames.joined(separator: ", "))")
                }
            }
        }
        // Interlocked outputs may never be on together, not even at start or in their safe states.
        for output in profile.outputs {
            for other in profile.outputs
            where output.name < other.name
                && (output.interlock.contains(other.name) || other.interlock.contains(output.name))
            {
                if output.initial == .on && other.initial == .on {
                    issue(
                        at: other.origin.location(of: "initial"), "\(other.origin.path).initial",
                        "\(output.name) and \(other.name) are interlocked and cannot both start on", hint: "start one of them off")
                }
                if output.safeState == .on && other.safeState == .on {
                    issue(
                        at: other.origin.location(of: "safe_state"), "\(other.origin.path).safe_state",
                        "\(output.name) and \(other.name) are interlocked and cannot both be on in their safe states",
                        hint: "make one of them off or keep")
                }
            }
        }
        // An interlock holds both ways, whichever side the profile wrote it on.
        for index in profile.outputs.indices {
            let name = profile.outputs[index].name
            for other in profile.outputs where other.interlock.contains(name) && !profile.outputs[index].interlock.contains(other.name) {
                profile.outputs[index].interlock.append(other.name)
            }
        }
    }
}
