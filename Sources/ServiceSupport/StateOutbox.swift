import MQTT
import NIOCore

/// Publishes retained states, newest first: a state only matters until the next one for its
/// topic. Up to ``window`` states wait for the broker's acknowledgement at once; beyond that, newer
/// states replace older ones of the same topic instead of queueing behind them, so a burst of
/// commands or a long outage never fills the client's queue and memory stays flat. Each topic's
/// states still reach the broker in order.
///
/// It lives on the client's event loop: called there, a state goes to the session at once, with
/// no lock, task or hop; called elsewhere, it moves to the loop first.
public final class StateOutbox: Sendable {
    private struct State {
        var pending: [String: (payload: String, qos: QoS)] = [:]
        var order: [String] = []
        var inFlight = 0
        var draining = false
        var drainAgain = false
        /// Waiting for everything handed over to be acknowledged.
        var flushes: [EventLoopPromise<Void>] = []
    }

    private let client: MQTTClient
    private let state: NIOLoopBoundBox<State>
    /// How many states may wait for the broker's acknowledgement at once.
    static let window = 64

    public init(client: MQTTClient) {
        self.client = client
        state = .makeBoxSendingValue(State(), eventLoop: client.eventLoop)
    }

    /// Publishes `payload` retained on `topic`, replacing a state for it not yet sent. A state at
    /// QoS 0 (one passed on as it came) is handed over and forgotten: it is lost with the
    /// connection, and the publisher states it again after reconnecting.
    public func publish(_ topic: String, _ payload: String, qos: QoS = .atLeastOnce) {
        if client.eventLoop.inEventLoop {
            hand(topic, payload, qos)
        } else {
            client.eventLoop.execute { self.hand(topic, payload, qos) }
        }
    }

    /// Succeeds once every state handed over so far has been acknowledged by the broker.
    private func flush() -> EventLoopFuture<Void> {
        client.eventLoop.flatSubmit {
            guard self.state.value.inFlight > 0 || !self.state.value.order.isEmpty else { return self.client.eventLoop.makeSucceededVoidFuture() }
            let promise = self.client.eventLoop.makePromise(of: Void.self)
            self.state.value.flushes.append(promise)
            return promise.futureResult
        }
    }

    /// Succeeds with true once every state handed over so far is acknowledged, or with false
    /// after `limit`: a broker that is gone must not hold up a stop.
    public func flush(within limit: Duration) -> EventLoopFuture<Bool> {
        let loop = client.eventLoop
        let answered = loop.makePromise(of: Bool.self)
        let pending = NIOLoopBoundBox.makeBoxSendingValue(true, eventLoop: loop)
        let timeout = loop.scheduleTask(in: TimeAmount(limit)) {
            guard pending.value else { return }
            pending.value = false
            answered.succeed(false)
        }
        flush().whenComplete { _ in
            guard pending.value else { return }
            pending.value = false
            timeout.cancel()
            answered.succeed(true)
        }
        return answered.futureResult
    }

    private func hand(_ topic: String, _ payload: String, _ qos: QoS) {
        if state.value.inFlight < Self.window && state.value.order.isEmpty {
            send(topic, payload, qos)
        } else if state.value.pending.updateValue((payload, qos), forKey: topic) == nil {
            state.value.order.append(topic)
        }
    }

    private func send(_ topic: String, _ payload: String, _ qos: QoS) {
        // Nothing to wait for: it holds no place in the window.
        guard qos > .atMostOnce else {
            return client.publishUnobserved(MQTTMessage(topic: topic, payload: payload, qos: qos, retain: true))
        }
        state.value.inFlight += 1
        client.requestPublication(MQTTMessage(topic: topic, payload: payload, qos: qos, retain: true)).whenComplete { _ in
            self.state.value.inFlight -= 1
            self.sendPending()
        }
    }

    private func sendPending() {
        // A publish that fails at once (the client has stopped) completes inside send: the outer
        // call goes on draining instead of recursing once per waiting state.
        guard !state.value.draining else {
            state.value.drainAgain = true
            return
        }
        state.value.draining = true
        repeat {
            state.value.drainAgain = false
            while state.value.inFlight < Self.window, !state.value.order.isEmpty {
                let topic = state.value.order.removeFirst()
                let waiting = state.value.pending.removeValue(forKey: topic)!
                send(topic, waiting.payload, waiting.qos)
            }
        } while state.value.drainAgain
        state.value.draining = false
        guard state.value.inFlight == 0, state.value.order.isEmpty else { return }
        let flushes = state.value.flushes
        state.value.flushes = []
        for promise in flushes { promise.succeed() }
    }
}
