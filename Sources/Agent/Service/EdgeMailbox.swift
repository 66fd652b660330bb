import Hardware
import NIOCore
import Synchronization

/// Carries one input's edges from the thread that watches the line to the agent's event loop:
/// one task on the loop per burst, not one per edge, and at most ``limit`` edges waiting (a
/// runaway input loses its oldest edges, never the agent's memory).
final class EdgeMailbox: Sendable {
    private struct State {
        var edges: [EdgeEvent] = []
        var scheduled = false
        var dropped = 0
    }

    static let limit = 4096
    private let state = Mutex(State())
    private let loop: any EventLoop
    private let deliver: @Sendable (_ edges: [EdgeEvent], _ dropped: Int) -> Void

    /// `deliver` runs on `loop` with the edges in order and how many were dropped before them.
    init(loop: any EventLoop, deliver: @escaping @Sendable (_ edges: [EdgeEvent], _ dropped: Int) -> Void) {
        self.loop = loop
        self.deliver = deliver
    }

    /// Called on the watching thread.
    func post(_ edge: EdgeEvent) {
        let schedule = state.withLock { state -> Bool in
            if state.edges.count >= Self.limit {
                state.edges.removeFirst()
                state.dropped += 1
            }
            state.edges.append(edge)
            defer { state.scheduled = true }
            return !state.scheduled
        }
        guard schedule else { return }
        loop.execute { [self] in
            let (edges, dropped) = state.withLock { state in
                defer { state = State() }
                return (state.edges, state.dropped)
            }
            deliver(edges, dropped)
        }
    }
}
