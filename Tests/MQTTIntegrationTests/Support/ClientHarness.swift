import Foundation
import Logging
import MQTT
import NIOCore
import Synchronization
import Testing

/// Runs `operation`, failing with `what` if it takes longer than `timeout`. The operation need
/// not honour cancellation: when time is up the caller goes on and the operation is cancelled.
func withTimeout<T: Sendable>(_ timeout: Duration, _ what: String, _ operation: @escaping @Sendable () async throws -> T)
    async throws -> T
{
    let resumed = Locked(false)
    let claim: @Sendable () -> Bool = {
        resumed.withLock { wasResumed in
            defer { wasResumed = true }
            return !wasResumed
        }
    }
    return try await withCheckedThrowingContinuation { continuation in
        let work = Task {
            do {
                let value = try await operation()
                if claim() { continuation.resume(returning: value) }
            } catch {
                if claim() { continuation.resume(throwing: error) }
            }
        }
        Task {
            try? await Task.sleep(for: timeout)
            if claim() {
                work.cancel()
                continuation.resume(throwing: HarnessError("timed out after \(timeout) waiting for \(what)"))
            }
        }
    }
}

/// Log records kept in memory, so tests can assert on what a user would read.
final class CapturedLog: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata = [:]
    }

    private let records = Mutex<[Record]>([])

    func append(_ record: Record) { records.withLock { $0.append(record) } }
    var all: [Record] { records.withLock { $0 } }

    func logger(_ label: String = "test", level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: label) { _ in CapturingLogHandler(log: self) }
        logger.logLevel = level
        return logger
    }
}

struct CapturingLogHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        log.append(.init(level: event.level, message: "\(event.message)", metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }
}

/// A logger for clients under test: quiet unless GPIOBRIDGE_TEST_LOG is set.
func testLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["GPIOBRIDGE_TEST_LOG"] != nil ? .debug : .critical
    return logger
}

/// A value shared between tasks behind a lock.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R { try mutex.withLock { try body(&$0) } }
    var value: Value { mutex.withLock { $0 } }
}

/// Collects a client's messages from the moment it is created.
final class Inbox: Sendable {
    private let received = Locked<[MQTTMessage]>([])
    private let task: Task<Void, Never>

    init(_ client: MQTTClient) {
        let received = self.received
        task = Task {
            for await message in client.messages { received.withLock { $0.append(message) } }
        }
    }

    var messages: [MQTTMessage] { received.value }

    /// Waits until `count` messages have arrived and returns them all.
    @discardableResult
    func wait(for count: Int, timeout: Duration = .seconds(10)) async throws -> [MQTTMessage] {
        let deadline = ContinuousClock.now + timeout
        while messages.count < count {
            guard ContinuousClock.now < deadline else {
                throw HarnessError("expected \(count) messages, got \(messages.count): \(messages.map(\.payloadString))")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return messages
    }

    /// Waits for a message on `topic` (with `payload`, if given) that arrived after `after` messages.
    @discardableResult
    func expectMessage(_ topic: String, _ payload: String? = nil, after: Int = 0, timeout: Duration = .seconds(10)) async throws -> MQTTMessage {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let found = messages.dropFirst(after).first(where: { $0.topic == topic && (payload == nil || $0.payloadString == payload) }) {
                return found
            }
            guard ContinuousClock.now < deadline else {
                throw HarnessError(
                    "no message \(payload.map { "\"\($0)\" " } ?? "")on \(topic); got: \(messages.dropFirst(after).map { "\($0.topic) \($0.payloadString)" })"
                )
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Payloads seen on `topic` so far, in order.
    func payloads(_ topic: String) -> [String] { messages.filter { $0.topic == topic }.map(\.payloadString) }

    deinit { task.cancel() }
}

/// Waits until `condition` holds, checking every few milliseconds.
func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw HarnessError("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(5))
    }
}

extension MQTTClient {
    /// Waits for the first state that satisfies `predicate`.
    @discardableResult
    func waitForState(
        _ what: String, timeout: Duration = .seconds(10),
        _ predicate: @escaping @Sendable (MQTTConnectionState) -> Bool
    ) async throws -> MQTTConnectionState {
        let states = connectionStates()
        return try await withTimeout(timeout, what) {
            for await state in states where predicate(state) { return state }
            throw HarnessError("client stopped before \(what)")
        }
    }

    func waitUntilConnected(timeout: Duration = .seconds(10)) async throws {
        try await waitForState("connection", timeout: timeout) { $0.isConnected }
    }
}

/// Runs `client` for the duration of `body`, then stops it gracefully and waits for `run()` to return.
func withRunningClients<T: Sendable>(
    _ clients: [MQTTClient], waitForConnection: Bool = true,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        for client in clients {
            group.addTask {
                try await client.run()
                return nil
            }
        }
        group.addTask {
            do {
                if waitForConnection {
                    for client in clients { try await client.waitUntilConnected() }
                }
                let result = try await body()
                for client in clients { client.stop() }
                return result
            } catch {
                for client in clients { client.stop() }
                throw error
            }
        }
        var result: T?
        while let next = try await group.next() {
            if let next { result = next }
        }
        return result!
    }
}

/// A client configuration for `port` on 127.0.0.1 with a unique client id.
func clientConfiguration(
    port: Int, _ name: String = "client", version: MQTTVersion = .v5,
    reconnect: MQTTReconnectPolicy = .exponentialBackoff(initial: .milliseconds(50), maximum: .milliseconds(400))
)
    -> MQTTClientConfiguration
{
    var configuration = MQTTClientConfiguration(
        host: "127.0.0.1", port: port,
        clientID: "\(name)-\(UUID().uuidString.prefix(8))")
    configuration.version = version
    configuration.reconnect = reconnect
    configuration.keepAlive = 30
    return configuration
}
