import Scheme
import ServiceLifecycle
import ServiceSupport

/// Runs a daemon's `group` under systemd's notify protocol: READY=1 with `status` once `ping`
/// returns (the event loop turns), then WATCHDOG=1 after each ping, so a stuck loop is
/// restarted. `alongside` runs next to the group (a signal handler, say). The group's end, a
/// stop or a start failure, ends the helpers.
func runNotifyingSystemd(
    _ group: ServiceGroup, status: String, ping: @escaping @Sendable () async -> Void,
    alongside: (@Sendable () async -> Void)? = nil
) async throws {
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            await ping()
            SystemdNotify.send("READY=1\nSTATUS=\(status)")
            guard let interval = SystemdNotify.watchdogInterval else { return }
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await ping()
                SystemdNotify.send("WATCHDOG=1")
            }
        }
        if let alongside { tasks.addTask { await alongside() } }
        do {
            try await group.run()
        } catch {
            tasks.cancelAll()
            throw error
        }
        tasks.cancelAll()
    }
}

/// The broker URL of `option` (`text` is its value or the environment's): nil when neither gave one.
func brokerURL(_ option: String, _ text: String?) throws -> BrokerURL? {
    try text.map { text in
        // Never echo it: the part before @ would be a user name and a password.
        if text.contains("@") {
            throw UsageError(
                "\(option): a user or password in the URL is not taken (process lists and logs would show it); "
                    + "give broker.username in the profile and the password with password_file, password_env or password_credential")
        }
        guard let url = BrokerURL(text) else { throw UsageError("\(option): \"\(text)\" is not mqtt://host[:port] or mqtts://host[:port]") }
        return url
    }
}
