import Hardware
import JSON
import MQTTCore

extension Profile {
    /// The resolved profile as a profile: every default filled in, every topic spelled out and
    /// every relative path made absolute, in YAML that `profile validate` accepts and that means
    /// the same (tested over every example). What is derived and cannot be set is in comments.
    /// The password itself is never shown, only where it comes from.
    public var resolvedDescription: String {
        var lines = ["# \(source), resolved: every default filled in", "broker:"]
        lines += broker.resolvedLines()
        lines += [
            "device:", "  id: \(yamlScalar(device.id))", "  name: \(yamlScalar(device.name))", "  base_topic: \(yamlScalar(device.baseTopic))",
            "  # status: \(statusTopic) (online / offline, retained; the will)", "  # errors: \(errorTopic)",
        ]
        if !expanders.isEmpty {
            lines.append("expanders:")
            for expander in expanders {
                let specification = expander.specification
                let interrupt = specification.interruptLine.map { ", interrupt: \(yamlScalar($0))" } ?? ""
                lines.append(
                    "  - {model: \(specification.model.rawValue), bus: \(specification.bus), address: \(hexByte(specification.address))\(interrupt)}"
                        + "    # lines \(specification.chipName):0...")
            }
        }
        if !outputs.isEmpty {
            lines.append("outputs:")
            for output in outputs {
                lines += [
                    "  - name: \(yamlScalar(output.name))", "    line: \(yamlScalar(output.line.description))", "    active_low: \(output.activeLow)",
                    "    drive: \(output.drive.rawValue)", "    initial: \(output.initial.rawValue)", "    safe_state: \(output.safeState.rawValue)",
                ]
                if let pulse = output.pulseMilliseconds { lines.append("    pulse: \(ProfileDecoder.formatDuration(pulse))") }
                lines += [
                    "    interlock: [\(output.interlock.map(yamlScalar).joined(separator: ", "))]",
                    "    topic: \(yamlScalar(output.stateTopic))", "    command_topic: \(yamlScalar(output.commandTopic))",
                ]
            }
        }
        if !inputs.isEmpty {
            lines.append("inputs:")
            for input in inputs {
                lines += [
                    "  - name: \(yamlScalar(input.name))", "    line: \(yamlScalar(input.line.description))", "    bias: \(input.bias.rawValue)",
                    "    active_low: \(input.activeLow)", "    edge: \(input.edge.rawValue)",
                    "    debounce: \(ProfileDecoder.formatDuration(input.debounceMilliseconds))",
                    "    on_payload: \(yamlScalar(input.onPayload))", "    off_payload: \(yamlScalar(input.offPayload))",
                    "    topic: \(yamlScalar(input.stateTopic))",
                ]
            }
        }
        if !sensors.isEmpty {
            lines.append("sensors:")
            for sensor in sensors {
                lines += [
                    "  - name: \(yamlScalar(sensor.name))", "    model: \(sensor.model.rawValue)", "    bus: \(sensor.bus)",
                    "    address: \(hexByte(sensor.address))", "    interval: \(ProfileDecoder.formatDuration(sensor.intervalMilliseconds))",
                ]
                if sensor.model == .ads1115 {
                    lines.append("    channel: \(sensor.options.channel)")
                    lines.append("    full_scale: \(formatReading(sensor.options.fullScaleVolts))")
                }
                if sensor.model == .ina219 {
                    lines.append("    shunt_ohms: \(formatReading(sensor.options.shuntOhms))")
                    lines.append("    max_current: \(formatReading(sensor.options.maxCurrentAmps))")
                }
                let quantities = sensor.model.quantities
                let units = quantities.map { "\($0.rawValue): \(yamlScalar((sensor.units[$0] ?? MeasurementUnit.units(for: $0)[0]).rawValue))" }
                lines.append("    units: {\(units.joined(separator: ", "))}")
                lines.append(
                    "    topic: \(yamlScalar(sensor.stateTopic))    # JSON: {\(quantities.map { "\"\($0.rawValue)\": ..." }.joined(separator: ", "))}"
                )
            }
        }
        if !publishers.isEmpty {
            lines.append("publishers:")
            for publisher in publishers {
                let value =
                    switch publisher.value {
                    case .random(let low, let high): "random: {min: \(low), max: \(high)}"
                    case .uptime: "uptime: true"
                    case .constant(let text): "text: \(yamlScalar(text))"
                    }
                lines += [
                    "  - name: \(yamlScalar(publisher.name))", "    topic: \(yamlScalar(publisher.topic))",
                    "    interval: \(ProfileDecoder.formatDuration(publisher.intervalMilliseconds))",
                    "    \(value)", "    qos: \(publisher.qos.rawValue)", "    retain: \(publisher.retain)",
                ]
                if publisher.announce { lines.append("    announce: true") }
                if let unit = publisher.unit { lines.append("    unit: \(yamlScalar(unit))") }
            }
        }
        if !subscriptions.isEmpty {
            lines.append("subscriptions:    # each message is logged")
            for subscription in subscriptions {
                lines.append("  - {topic: \(yamlScalar(subscription.filter.rawValue)), qos: \(subscription.qos.rawValue)}")
            }
        }
        lines += [
            "safety:", "  broker_grace: \(safety.brokerGraceMilliseconds.map(ProfileDecoder.formatDuration) ?? "never")",
            "  on_shutdown: \(safety.safeOnShutdown ? "safe" : "keep")",
        ]
        lines += ["discovery:", "  enabled: \(discovery.enabled)", "  prefix: \(yamlScalar(discovery.prefix))"]
        return lines.joined(separator: "\n")
    }
}

extension BrokerSettings {
    /// The settings as a profile writes them, every default filled in; each line starts with `indent`.
    public func resolvedLines(indent: String = "  ") -> [String] {
        var lines: [String] = []
        lines.append(indent + "host: \(yamlScalar(host))")
        lines.append(indent + "port: \(port)")
        if let tls {
            var settings: [String] = []
            if let ca = tls.caFile { settings.append("ca: \(yamlScalar(ca))") }
            if let certificate = tls.certificateFile { settings.append("cert: \(yamlScalar(certificate))") }
            if let key = tls.keyFile { settings.append("key: \(yamlScalar(key))") }
            settings.append("insecure: \(tls.insecure)")
            lines.append(indent + "tls: {\(settings.joined(separator: ", "))}" + (tls.caFile == nil ? "    # the system's trust store" : ""))
        } else {
            lines.append(indent + "tls: false")
        }
        if let username { lines.append(indent + "username: \(yamlScalar(username))") }
        switch password {
        case .file(let path)?: lines.append(indent + "password_file: \(yamlScalar(path))")
        case .environment(let name)?: lines.append(indent + "password_env: \(yamlScalar(name))")
        case .credential(let name)?: lines.append(indent + "password_credential: \(yamlScalar(name))")
        case nil: break
        }
        lines.append(indent + "client_id: \(yamlScalar(clientID))")
        lines.append(indent + "keepalive: \(keepAliveSeconds)    # seconds")
        lines.append(indent + "protocol: " + (version.map { $0 == .v5 ? "\"5\"" : "\"3.1.1\"" } ?? "auto    # 5, falling back to 3.1.1"))
        lines.append(indent + "session_expiry: \(ProfileDecoder.formatDuration(Int(sessionExpirySeconds) * 1000))")
        lines.append(indent + "reconnect_min: \(ProfileDecoder.formatDuration(reconnectMinimumMilliseconds))")
        lines.append(indent + "reconnect_max: \(ProfileDecoder.formatDuration(reconnectMaximumMilliseconds))")
        return lines
    }
}

/// A duration as a profile writes it: `1h`, `5m`, `3s` or `250ms`.
public func formatProfileDuration(milliseconds: Int) -> String {
    ProfileDecoder.formatDuration(milliseconds)
}

/// `text` as a YAML scalar that reads back as the same text: plain when nothing in it could be
/// read otherwise, double-quoted and escaped when anything could (`#`, `: `, a leading `-`,
/// words YAML 1.1 reads as booleans, numbers, control characters).
public func yamlScalar(_ text: String) -> String {
    let plain =
        !text.isEmpty
        && text.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                    || "_-./".unicodeScalars.contains(scalar))
        }
    let special =
        ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"].contains(text.lowercased())
        || Double(text) != nil || text.hasPrefix("-") || text.hasPrefix(".") || text.hasPrefix("0x")
    if plain && !special { return text }
    // A JSON string is a YAML double-quoted scalar (YAML 1.2 is a superset of JSON).
    return JSONValue.quoted(text)
}
