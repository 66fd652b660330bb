#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn and a clean signal state.
///
/// Foundation's `Process` passes on the blocked-signal mask of the thread that starts it; started
/// from a Swift concurrency thread, a daemon such as mosquitto then never sees SIGTERM.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    /// The exit status once the process has ended (read ``isRunning`` first).
    private(set) var exitStatus: Int32?

    /// Starts `path` with `arguments` and this process's environment plus `environment`; its
    /// stdout and stderr go to `outputPath` (or /dev/null).
    init(_ path: String, _ arguments: [String], environment: [String: String] = [:], outputPath: String = "/dev/null") throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of ours: a socket inherited by a long-lived child (a broker) stays open after
        // we close it, so its peer never sees the close (a scripted-broker test waited for one).
        // glibc 2.34 has the action; Swift's Glibc module does not declare it.
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
            throw HarnessError("glibc has no posix_spawn_file_actions_addclosefrom_np (2.34 or newer is needed)")
        }
        _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var variables: [String] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "="), environment[String(text[..<equals])] == nil { variables.append(text) }
            index += 1
        }
        variables += environment.map { "\($0.key)=\($0.value)" }
        let envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup($0) } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw HarnessError("cannot start \(path): \(String(cString: strerror(result)))")
        }
        self.pid = pid
    }

    /// Whether the process is still running (reaps it once it has exited).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            // WEXITSTATUS, or 128 + the signal that ended it.
            exitStatus = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            return false
        }
        return result == 0
    }

    func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Sends `signal` and waits for the process to exit (SIGKILL after `grace`).
    func terminate(_ signal: Int32 = SIGTERM, grace: Duration = .seconds(10)) async {
        guard isRunning else { return }
        kill(pid, SIGCONT)
        kill(pid, signal)
        let deadline = ContinuousClock.now + grace
        while isRunning {
            if ContinuousClock.now > deadline { kill(pid, SIGKILL) }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
