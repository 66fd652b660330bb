import NIOCore
import ServiceLifecycle

/// How the agent and the relay run as services whose state lives on an event loop: ``run(on:start:stop:)``
/// starts them there and waits until they have stopped; a graceful shutdown or a cancellation asks
/// them, on the loop, to stop (safe states, `offline`, the broker's acknowledgement) before `run`
/// returns.
public enum LoopService {
    /// `start` runs on `loop` and returns the future of the service's end; `stop` runs on `loop`
    /// when the group shuts down gracefully or the task is cancelled.
    public static func run(
        on loop: any EventLoop, start: @escaping @Sendable () throws -> EventLoopFuture<Void>, stop: @escaping @Sendable () -> Void
    ) async throws {
        let stopped = try await loop.flatSubmit { () -> EventLoopFuture<EventLoopFuture<Void>> in
            do {
                return loop.makeSucceededFuture(try start())
            } catch {
                return loop.makeFailedFuture(error)
            }
        }.get()
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await stopped.get()
        } onCancelOrGracefulShutdown: {
            loop.execute(stop)
        }
    }

    /// Returns once `loop` has run a task: the loop turns and is not stuck (READY=1 and the
    /// systemd watchdog).
    public static func ping(_ loop: any EventLoop) async {
        _ = try? await loop.submit {}.get()
    }
}
