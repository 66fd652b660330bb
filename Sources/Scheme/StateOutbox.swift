import MQTT
import Synchronization

/// Publishes retained states, newest first: a state only matters until the next one for its
/// topic. While earlier states wait for the broker's acknowledgement (or for the broker to come
/// back), newer ones replace older ones of the same topic instead of queueing behind them, so a
/// burst of commands or a long outage never fills the client's queue and memory stays flat.
/// Each topic's states still arrive in order: a batch is sent only after the previous one is acknowledged.
public final class StateOutbox: Sendable {
    private struct State {
        var pending: [String: String] = [:]
        var order: [String] = []
        var draining = false
        /// Waiting for everything to be acknowledged.
        var flushes: [CheckedContinuation<Void, Never>] = []
    }

    private let client: MQTTClient
    private let state = Mutex(State())
    /// How many states may wait for the broker's acknowledgement at once.
    static let window = 64

    public init(client: MQTTClient) {
        self.client = client
    }

    /// Publishes `payload` retained on `topic` (QoS 1), replacing a state for it not yet sent.
    public func publish(_ topic: String, _ payload: String) {
        let start = state.withLock { state -> Bool in
            if state.pending.updateValue(payload, forKey: topic) == nil { state.order.append(topic) }
            defer { state.draining = true }
            return !state.draining
        }
        if start { Task { await drain() } }
    }

    /// Returns once every state handed over so far has been acknowledged by the broker.
    public func flush() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state -> Bool in
                guard state.draining else { return true }
                state.flushes.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    private func drain() async {
        while true {
            let (batch, flushed) = state.withLock { state -> ([MQTTMessage], [CheckedContinuation<Void, Never>]) in
                let messages = state.order.map { MQTTMessage(topic: $0, payload: state.pending[$0]!, qos: .atLeastOnce, retain: true) }
                state.pending = [:]
                state.order = []
                guard messages.isEmpty else { return (messages, []) }
                state.draining = false
                defer { state.flushes = [] }
                return ([], state.flushes)
            }
            if batch.isEmpty {
                for waiter in flushed { waiter.resume() }
                return
            }
            // A window of publishes in flight, not one task per state: a relay announcing a thousand
            // boards must not hold thousands of waiting tasks.
            await withTaskGroup(of: Void.self) { [client] group in
                for (index, message) in batch.enumerated() {
                    if index >= Self.window { await group.next() }
                    group.addTask { _ = try? await client.publish(message) }
                }
            }
        }
    }
}

/// Runs `operation` in a task of its own and waits at most `timeout` for it; true if it finished.
/// The operation may go on after a timeout (a wait on the broker cannot be cancelled).
public func finishes(within timeout: Duration, _ operation: @escaping @Sendable () async -> Void) async -> Bool {
    await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
        let once = ResumeOnce(continuation)
        Task {
            await operation()
            once.resume(true)
        }
        Task {
            try? await Task.sleep(for: timeout)
            once.resume(false)
        }
    }
}

/// Resumes a continuation the first time only.
private final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<Bool, Never>?>

    init(_ continuation: CheckedContinuation<Bool, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ value: Bool) {
        continuation.withLock { continuation in
            continuation?.resume(returning: value)
            continuation = nil
        }
    }
}
