#if canImport(Glibc)
import Glibc
#endif

/// The systemd notification protocol (`Type=notify`): READY=1 when the daemon runs, WATCHDOG=1
/// while its event loop answers. Without `$NOTIFY_SOCKET` (not under systemd) nothing is sent.
enum SystemdNotify {
    /// Sends `state` (such as `READY=1\nSTATUS=running`) to the service manager; false when there is none.
    @discardableResult
    static func send(_ state: String) -> Bool {
        guard let socketPath = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !socketPath.isEmpty else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        // A leading @ names the abstract namespace: a NUL byte on the wire.
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, message, message.count, 0, $0, length) }
        }
        return sent == message.count
    }

    /// How often to send WATCHDOG=1: half of `$WATCHDOG_USEC`, if the watchdog is on for this process.
    static var watchdogInterval: Duration? {
        guard let text = getenv("WATCHDOG_USEC").map({ String(cString: $0) }), let microseconds = Int64(text), microseconds > 0 else {
            return nil
        }
        if let pid = getenv("WATCHDOG_PID").map({ String(cString: $0) }), Int32(pid) != getpid() { return nil }
        return .microseconds(microseconds / 2)
    }
}
