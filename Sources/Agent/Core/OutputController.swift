import Profile
import Scheme

/// The logic of a profile's outputs, as a value type that returns actions: interlocks, pulses
/// and safe states. The agent carries the actions out in order and stops at the first drive that
/// fails (``driveFailed(_:skipped:)``), so a partner that could not be switched off never has its
/// interlocked output switched on.
public struct OutputController: Sendable {
    /// Something the agent must do.
    public enum Action: Sendable, Equatable {
        /// Set the output's line (logical level).
        case drive(String, on: Bool)
        /// Publish the output's state, now that its line has changed.
        case publish(String, on: Bool)
        /// Call ``pulseEnded(_:generation:)`` after this long, whatever happens to the broker.
        case startPulse(String, milliseconds: Int, generation: Int)
        /// The pulse timer of the output is no longer needed.
        case cancelPulse(String)
    }

    struct Output: Sendable {
        var interlock: [String]
        var pulseMilliseconds: Int?
        var safeState: SafeState
        var isOn: Bool
        /// Which pulse timer is current; an older one that fires does nothing.
        var pulseGeneration = 0
        var pulsing = false
        /// The state before the last drive, restored if the drive fails.
        var previous: Bool
    }

    private var outputs: [String: Output]

    /// `initialStates` holds each output's state as its line was requested.
    public init(outputs: [OutputSettings], initialStates: [String: Bool]) {
        self.outputs = Dictionary(
            uniqueKeysWithValues: outputs.map { settings in
                let on = initialStates[settings.name] ?? false
                return (
                    settings.name,
                    Output(
                        interlock: settings.interlock, pulseMilliseconds: settings.pulseMilliseconds,
                        safeState: settings.safeState, isOn: on, previous: on)
                )
            })
    }

    /// The controller for a new profile's `outputs`: those in `kept` carry on as they are (state
    /// and any pulse under way); the others start at their initial state.
    public func reconfigured(to outputs: [OutputSettings], keeping kept: Set<String>) -> OutputController {
        var next = OutputController(outputs: outputs, initialStates: Dictionary(uniqueKeysWithValues: outputs.map { ($0.name, $0.initial == .on) }))
        for name in kept {
            guard let old = self.outputs[name], var output = next.outputs[name] else { continue }
            output.isOn = old.isOn
            output.previous = old.previous
            output.pulsing = old.pulsing
            output.pulseGeneration = old.pulseGeneration
            next.outputs[name] = output
        }
        return next
    }

    /// Records the state of an output whose line was requested later (one restoring its state).
    public mutating func adopt(_ name: String, on: Bool) {
        outputs[name]?.isOn = on
        outputs[name]?.previous = on
    }

    /// The state the controller believes the output is in.
    public func isOn(_ name: String) -> Bool? { outputs[name]?.isOn }

    /// Handles a command for the output `name`.
    public mutating func handle(_ command: OutputCommand, for name: String) -> [Action] {
        guard let output = outputs[name] else { return [] }
        switch command {
        case .query:
            return [.publish(name, on: output.isOn)]
        case .set(let on, let pulse):
            return on ? switchOn(name, pulse: pulse ?? output.pulseMilliseconds) : switchOff(name)
        case .toggle(let pulse):
            return output.isOn ? switchOff(name) : switchOn(name, pulse: pulse ?? output.pulseMilliseconds)
        }
    }

    /// A pulse timer fired: the output goes off, unless a newer command superseded the pulse.
    public mutating func pulseEnded(_ name: String, generation: Int) -> [Action] {
        guard let output = outputs[name], output.pulsing, output.pulseGeneration == generation else { return [] }
        return switchOff(name)
    }

    /// Every output goes to its safe state: the broker has been gone too long, or the agent stops.
    /// Outputs that go off do so first, so an interlocked partner is off before anything goes on.
    public mutating func enterSafeStates() -> [Action] {
        var actions: [Action] = []
        for name in outputs.keys.sorted() where outputs[name]!.safeState == .off && outputs[name]!.isOn {
            actions += switchOff(name)
        }
        for name in outputs.keys.sorted() where outputs[name]!.safeState == .on && !outputs[name]!.isOn {
            actions += switchOn(name, pulse: nil)
        }
        return actions
    }

    /// The drive of `name` failed and the agent skipped the rest of the batch, `skipped`: those
    /// outputs keep the state they had.
    public mutating func driveFailed(_ name: String, skipped: [Action]) {
        revert(name)
        for case .drive(let other, _) in skipped { revert(other) }
    }

    private mutating func revert(_ name: String) {
        guard var output = outputs[name] else { return }
        output.isOn = output.previous
        output.pulsing = output.pulsing && output.isOn
        outputs[name] = output
    }

    private mutating func switchOn(_ name: String, pulse: Int?) -> [Action] {
        var actions: [Action] = []
        for partner in outputs[name]!.interlock.sorted() where outputs[partner]?.isOn == true {
            actions += switchOff(partner)
        }
        var output = outputs[name]!
        output.previous = output.isOn
        output.isOn = true
        actions += [.drive(name, on: true), .publish(name, on: true)]
        if let pulse {
            output.pulseGeneration += 1
            output.pulsing = true
            actions.append(.startPulse(name, milliseconds: pulse, generation: output.pulseGeneration))
        } else if output.pulsing {
            output.pulsing = false
            actions.insert(.cancelPulse(name), at: actions.count - 2)
        }
        outputs[name] = output
        return actions
    }

    private mutating func switchOff(_ name: String) -> [Action] {
        var output = outputs[name]!
        var actions: [Action] = []
        if output.pulsing {
            output.pulsing = false
            actions.append(.cancelPulse(name))
        }
        output.previous = output.isOn
        output.isOn = false
        outputs[name] = output
        return actions + [.drive(name, on: false), .publish(name, on: false)]
    }
}
