/// Claims that collide when profiles run side by side in one fleet: a device id taken twice (an
/// agent's, a relay's or a mirrored board's), a topic an agent publishes that a relay reads as a
/// plain board's reading, or two plain boards reading one topic. Each profile alone is valid, so
/// these are warnings: the devices would run, but would speak for each other.
public struct FleetWarning: Sendable, Equatable, CustomStringConvertible {
    /// `file:line:column` where known, else the file.
    public var place: String
    public var path: String
    public var message: String
    public var hint: String

    public var description: String { "\(place): warning: \(path): \(message) (fix: \(hint))" }
}

public enum FleetCheck {
    /// The collisions among `agents` and `relays`, in the order of the files.
    public static func warnings(agents: [Profile], relays: [RelayProfile]) -> [FleetWarning] {
        var warnings: [FleetWarning] = []
        var devices: [String: String] = [:]
        func claim(_ id: String, _ owner: String, place: String, path: String) {
            if let first = devices[id] {
                warnings.append(
                    FleetWarning(
                        place: place, path: path, message: "the device id \(id) is already \(first)",
                        hint: "give each device its own id: both would write gpiobridge/\(id)/status and info"))
            } else {
                devices[id] = owner
            }
        }
        for agent in agents { claim(agent.device.id, "the agent of \(agent.source)", place: agent.source, path: "device.id") }
        for relay in relays {
            claim(relay.id, "the relay of \(relay.source)", place: relay.source, path: "relay.id")
            for board in relay.boards {
                claim(
                    board.name, "board \(board.name) of \(relay.source)", place: place(relay.source, board.origin.location(of: "name")),
                    path: "\(board.origin.path).name")
            }
        }

        // Topics plain boards are known by: whoever else publishes there speaks for the board,
        // unless the sketches say which JSON messages are theirs (match:).
        var readers: [String: [(match: PlainMatch?, owner: String)]] = [:]
        for relay in relays {
            for board in relay.boards {
                guard case .pubsubclient(_, _, let values, let inputs, _, let match) = board.flavour else { continue }
                for topic in Set(values.map(\.topic) + inputs.map(\.topic)).sorted() {
                    let owner = "board \(board.name) of \(relay.source)"
                    if let first = readers[topic]?.first(where: { match == nil || $0.match == nil || $0.match == match }) {
                        warnings.append(
                            FleetWarning(
                                place: place(relay.source, board.origin.location), path: board.origin.path,
                                message:
                                    "board \(board.name) reads \(topic), as \(first.owner) does: each would take the other's messages for its own",
                                hint:
                                    "give each sketch its own topic, such as \(board.name)/\(topic), or say which messages are whose with match: {json: ..., equals: ...}"
                            ))
                    }
                    readers[topic, default: []].append((match, owner))
                }
            }
        }
        for agent in agents {
            for publisher in agent.publishers {
                guard let reader = readers[publisher.topic]?.first?.owner else { continue }
                warnings.append(
                    FleetWarning(
                        place: place(agent.source, publisher.origin.location(of: "topic")), path: "\(publisher.origin.path).topic",
                        message:
                            "the agent publishes to \(publisher.topic), which the relay reads as \(reader): that board would seem alive with the agent's numbers",
                        hint: "publish to a topic of the agent's own, such as \(agent.device.baseTopic)/\(publisher.name)"))
            }
        }
        return warnings
    }

    private static func place(_ file: String, _ location: SourceLocation) -> String { "\(file):\(location)" }
}
