import Hardware
import MQTTCore

extension Profile {
    /// The resolved profile as YAML, with every default filled in and every topic spelled out:
    /// what `gpiobridge profile show` prints. The password itself is never shown, only its source.
    public var resolvedDescription: String {
        var lines = ["# \(source), resolved: every default filled in", "broker:"]
        lines.append("  host: \(broker.host)")
        lines.append("  port: \(broker.port)")
        if let tls = broker.tls {
            lines.append("  tls: {ca: \(tls.caFile ?? "system trust store"), cert: \(tls.certificateFile ?? "none"), key: \(tls.keyFile ?? "none"), insecure: \(tls.insecure)}")
        } else {
            lines.append("  tls: false")
        }
        lines.append("  username: \(broker.username ?? "none")")
        lines.append("  password: \(broker.password.map { "from \($0)" } ?? "none")")
        lines.append("  client_id: \(broker.clientID)")
        lines.append("  keepalive: \(broker.keepAliveSeconds)s")
        lines.append("  protocol: \(broker.version.map { $0 == .v5 ? "5" : "3.1.1" } ?? "auto (5, falling back to 3.1.1)")")
        lines.append("  session_expiry: \(broker.sessionExpirySeconds)s")
        lines.append("  reconnect_min: \(ProfileDecoder.formatDuration(broker.reconnectMinimumMilliseconds))")
        lines.append("  reconnect_max: \(ProfileDecoder.formatDuration(broker.reconnectMaximumMilliseconds))")
        lines += ["device:", "  id: \(device.id)", "  name: \(device.name)", "  base_topic: \(device.baseTopic)",
                  "  status_topic: \(statusTopic)    # online / offline, retained; the will", "  error_topic: \(errorTopic)"]
        if !expanders.isEmpty {
            lines.append("expanders:")
            for expander in expanders {
                let specification = expander.specification
                lines.append("  - {chip: \(specification.chipName), model: \(specification.model.rawValue), bus: \(specification.bus), address: \(hexByte(specification.address)), interrupt: \(specification.interruptLine ?? "none")}")
            }
        }
        if !outputs.isEmpty {
            lines.append("outputs:")
            for output in outputs {
                lines += [
                    "  - name: \(output.name)", "    line: \(output.line)", "    active_low: \(output.activeLow)",
                    "    drive: \(output.drive.rawValue)", "    initial: \(output.initial.rawValue)", "    safe_state: \(output.safeState.rawValue)",
                    "    pulse: \(output.pulseMilliseconds.map(ProfileDecoder.formatDuration) ?? "none")",
                    "    interlock: [\(output.interlock.joined(separator: ", "))]",
                    "    topic: \(output.stateTopic)", "    command_topic: \(output.commandTopic)",
                ]
            }
        }
        if !inputs.isEmpty {
            lines.append("inputs:")
            for input in inputs {
                lines += [
                    "  - name: \(input.name)", "    line: \(input.line)", "    bias: \(input.bias.rawValue)", "    active_low: \(input.activeLow)",
                    "    edge: \(input.edge.rawValue)", "    debounce: \(ProfileDecoder.formatDuration(input.debounceMilliseconds))",
                    "    on_payload: \(input.onPayload)", "    off_payload: \(input.offPayload)", "    topic: \(input.stateTopic)",
                ]
            }
        }
        if !sensors.isEmpty {
            lines.append("sensors:")
            for sensor in sensors {
                lines += ["  - name: \(sensor.name)", "    model: \(sensor.model.rawValue)", "    bus: \(sensor.bus)",
                          "    address: \(hexByte(sensor.address))", "    interval: \(ProfileDecoder.formatDuration(sensor.intervalMilliseconds))"]
                if sensor.model == .ads1115 {
                    lines.append("    channel: \(sensor.options.channel)")
                    lines.append("    full_scale: \(formatReading(sensor.options.fullScaleVolts))")
                }
                if sensor.model == .ina219 {
                    lines.append("    shunt_ohms: \(formatReading(sensor.options.shuntOhms))")
                    lines.append("    max_current: \(formatReading(sensor.options.maxCurrentAmps))")
                }
                let quantities = sensor.model.quantities
                let units = quantities.map { "\($0.rawValue): \((sensor.units[$0] ?? MeasurementUnit.units(for: $0)[0]).rawValue)" }
                lines.append("    units: {\(units.joined(separator: ", "))}")
                lines.append("    topic: \(sensor.stateTopic)    # JSON: {\(quantities.map { "\"\($0.rawValue)\": ..." }.joined(separator: ", "))}")
            }
        }
        if !publishers.isEmpty {
            lines.append("publishers:")
            for publisher in publishers {
                let value = switch publisher.value {
                case .random(let low, let high): "random: {min: \(low), max: \(high)}"
                case .uptime: "uptime: true"
                case .constant(let text): "text: \(text)"
                }
                lines += ["  - name: \(publisher.name)", "    topic: \(publisher.topic)", "    interval: \(ProfileDecoder.formatDuration(publisher.intervalMilliseconds))",
                          "    \(value)", "    qos: \(publisher.qos.rawValue)", "    retain: \(publisher.retain)"]
            }
        }
        if !subscriptions.isEmpty {
            lines.append("subscriptions:    # each message is logged")
            for subscription in subscriptions { lines.append("  - {topic: \(subscription.filter), qos: \(subscription.qos.rawValue)}") }
        }
        lines += ["safety:", "  broker_grace: \(safety.brokerGraceMilliseconds.map(ProfileDecoder.formatDuration) ?? "never")",
                  "  on_shutdown: \(safety.safeOnShutdown ? "safe" : "keep")"]
        lines += ["discovery:", "  enabled: \(discovery.enabled)", "  prefix: \(discovery.prefix)"]
        return lines.joined(separator: "\n")
    }
}

/// A duration as a profile writes it: `1h`, `5m`, `3s` or `250ms`.
public func formatProfileDuration(milliseconds: Int) -> String {
    ProfileDecoder.formatDuration(milliseconds)
}
