#if canImport(Glibc)
import Glibc
#endif

/// One agent per profile: an exclusive lock on `<run dir>/<name>.lock`, held for the rest of the
/// process's life (its descriptor is never closed; the kernel releases the lock when the process
/// ends, however it ends). A second agent for the same profile or instance refuses to start before
/// it touches the broker, a line or the socket.
public enum AgentLock {
    /// Why the lock was not taken.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The lock file beside the control socket of `instance` (`agent.lock`, or `<instance>.lock`).
    public static func path(instance: String?) -> String {
        ControlSocket.directory + "/" + (instance ?? "agent") + ".lock"
    }

    /// Takes the lock at `path` for good and writes our PID into it, or says which agent holds it.
    public static func acquire(path: String) throws(Failure) {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty && access(directory, F_OK) != 0 { mkdir(directory, 0o750) }
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw Failure(description: "cannot open the lock \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &buffer, buffer.count, 0)
            close(descriptor)
            guard reason == EWOULDBLOCK else {
                throw Failure(description: "cannot lock \(path): \(String(cString: strerror(reason)))")
            }
            let holder = count > 0 ? Int(String(decoding: buffer[..<count], as: UTF8.self).filter(\.isNumber)) : nil
            throw Failure(description: "another agent (PID \(holder.map(String.init) ?? "unknown")) already runs this profile: it holds \(path)")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.count, 0)
    }
}
