import Profile

/// Carries out links, declarative rules that mirror one device's state onto another's output
/// (`garage-pi/button` → `kitchen/light`), whatever runs either side. A value type on the caller's
/// clock: it is told the states it sees and returns the commands to send.
///
/// Loop-safe by construction: a change caused by a link carries the chain of endpoints it came
/// through, and a link never commands an endpoint already in the chain. A device reporting a
/// state the relay commanded is recognised as that command's echo, even if newer commands are on
/// their way, so two devices linked both ways settle instead of oscillating.
struct LinkRouter: Sendable {
    /// `device/name`.
    struct Endpoint: Hashable, Sendable, CustomStringConvertible {
        var device: String
        var name: String
        var description: String { "\(device)/\(name)" }
    }

    struct Command: Equatable, Sendable {
        var target: Endpoint
        var on: Bool
    }

    private struct Expected: Sendable {
        var on: Bool
        var chain: Set<Endpoint>
        var until: ContinuousClock.Instant
    }

    /// How long a commanded state counts as the link's own doing when the device reports it.
    static let echoWindow = Duration.seconds(10)

    private var targets: [Endpoint: [Endpoint]] = [:]
    private var known: [Endpoint: Bool] = [:]
    private var expected: [Endpoint: [Expected]] = [:]

    init(_ links: [LinkSettings]) {
        for link in links {
            targets[Endpoint(device: link.fromDevice, name: link.fromName), default: []]
                .append(Endpoint(device: link.toDevice, name: link.toName))
        }
    }

    /// Every endpoint whose state the router must see: sources, and targets (to know when a
    /// command is not needed).
    var endpoints: Set<Endpoint> {
        var all = Set(targets.keys)
        for list in targets.values { all.formUnion(list) }
        return all
    }

    /// `endpoint` reports `on`. The first report only records (a retained state is not a
    /// change); later changes are mirrored onto the linked outputs.
    mutating func observed(_ endpoint: Endpoint, on: Bool, at now: ContinuousClock.Instant) -> [Command] {
        let previous = known.updateValue(on, forKey: endpoint)
        var chain: Set<Endpoint> = [endpoint]
        if var waiting = expected[endpoint] {
            waiting.removeAll { $0.until < now }
            if let index = waiting.firstIndex(where: { $0.on == on }) {
                chain.formUnion(waiting[index].chain)
                waiting.removeFirst(index + 1)
                expected[endpoint] = waiting.isEmpty ? nil : waiting
                return commands(from: endpoint, on: on, chain: chain, at: now)
            }
            expected[endpoint] = waiting.isEmpty ? nil : waiting
        }
        guard let previous, previous != on else { return [] }
        return commands(from: endpoint, on: on, chain: chain, at: now)
    }

    private mutating func commands(from source: Endpoint, on: Bool, chain: Set<Endpoint>, at now: ContinuousClock.Instant) -> [Command] {
        var commands: [Command] = []
        // A target's state is what it was last commanded, if that is still on its way.
        for target in targets[source] ?? [] where !chain.contains(target) && (expected[target]?.last?.on ?? known[target]) != on {
            expected[target, default: []].append(Expected(on: on, chain: chain, until: now + Self.echoWindow))
            if expected[target]!.count > 16 { expected[target]!.removeFirst() }
            commands.append(Command(target: target, on: on))
        }
        return commands
    }
}
