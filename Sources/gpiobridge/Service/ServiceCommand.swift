#if canImport(Glibc)
import Glibc
#endif

/// `gpiobridge service install`: the user, the groups, the device permissions, the binary, the
/// directories and the systemd units.
enum ServiceCommand {
    static let group = CommandGroup(
        name: "service", abstract: "Install gpiobridge as a systemd service.",
        children: [.command(Install.self)])

    struct Install: Command {
        static let name = "install"
        static let abstract = "Set up the gpiobridge user and groups, udev rules, /usr/local/bin/gpiobridge, /etc/gpiobridge and the units."
        static let discussion = """
            Run it as root. With --root DIR everything is written below DIR and no user, group or
            systemctl command runs (for packaging and tests).
            """
        static let options = [OptionSpec.option("--root", value: "DIR", help: "Install below DIR instead of /.")]
        let root: String?

        init(_ arguments: ParsedArguments) throws { root = arguments.string("--root") }

        func run() async throws {
            let prefix = root ?? ""
            if root == nil {
                guard getuid() == 0 else { throw CLIError("service install changes /etc and /usr/local: run it as root (sudo)") }
                for group in ["gpio", "i2c"] where getgrnam(group) == nil {
                    try step("create the system group \(group)") { try runTool(["groupadd", "--system", group]) }
                }
                if getpwnam("gpiobridge") == nil {
                    try step("create the system user gpiobridge") {
                        try runTool([
                            "useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                            "--shell", "/usr/sbin/nologin", "gpiobridge",
                        ])
                    }
                }
                try step("add gpiobridge to the gpio and i2c groups") { try runTool(["usermod", "--append", "--groups", "gpio,i2c", "gpiobridge"]) }
            }
            for directory in ["/etc/udev/rules.d", "/usr/local/bin", "/etc/systemd/system", "/etc/gpiobridge"] {
                try makeDirectories(prefix + directory)
            }
            try step("write /etc/udev/rules.d/60-gpiobridge.rules") {
                try writeAtomically(prefix + "/etc/udev/rules.d/60-gpiobridge.rules", Array(Units.udevRules.utf8))
            }
            let binary = try currentExecutable()
            if binary != prefix + "/usr/local/bin/gpiobridge" {
                try step("install \(binary) as /usr/local/bin/gpiobridge") {
                    try writeAtomically(prefix + "/usr/local/bin/gpiobridge", try readFile(binary))
                    chmod(prefix + "/usr/local/bin/gpiobridge", 0o755)
                }
            }
            try step("write /etc/systemd/system/gpiobridge.service, gpiobridge@.service and gpiobridge-relay.service") {
                try writeAtomically(prefix + "/etc/systemd/system/gpiobridge.service", Array(Units.service.utf8))
                try writeAtomically(prefix + "/etc/systemd/system/gpiobridge@.service", Array(Units.template.utf8))
                try writeAtomically(prefix + "/etc/systemd/system/gpiobridge-relay.service", Array(Units.relayService.utf8))
            }
            try step("make /etc/gpiobridge readable by the gpiobridge group only") {
                chmod(prefix + "/etc/gpiobridge", 0o750)
                if root == nil, let group = getgrnam("gpiobridge") { chown(prefix + "/etc/gpiobridge", 0, group.pointee.gr_gid) }
            }
            if root == nil && access("/run/systemd/system", F_OK) == 0 {
                try step("reload systemd and udev") {
                    try runTool(["systemctl", "daemon-reload"])
                    try? runTool(["udevadm", "control", "--reload"])
                    try? runTool(["udevadm", "trigger", "--subsystem-match=gpio", "--subsystem-match=i2c-dev"])
                }
            }
            print(
                """
                next: gpiobridge profile apply Profiles/relay.yml
                      systemctl enable --now gpiobridge        (one profile per instance: gpiobridge@NAME, /etc/gpiobridge/NAME.yml)
                      systemctl enable --now gpiobridge-relay  (ESP8266 boards: copy Profiles/fleet.yml to /etc/gpiobridge/relay.yml)
                """)
        }

        private func step(_ what: String, _ body: () throws -> Void) throws {
            do {
                try body()
                print("ok: \(what)")
            } catch {
                throw CLIError("cannot \(what): \(error)")
            }
        }
    }
}

/// The path of the running binary.
func currentExecutable() throws -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { throw CLIError("cannot find the running binary: \(String(cString: strerror(errno)))") }
    return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// `mkdir -p`.
func makeDirectories(_ path: String) throws {
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        current += "/" + component
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw CLIError("cannot create \(current): \(String(cString: strerror(errno)))")
        }
    }
}

/// Runs a system tool and waits; a non-zero exit is an error.
func runTool(_ arguments: [String]) throws {
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let result = posix_spawnp(&pid, arguments[0], nil, nil, argv, environ)
    guard result == 0 else { throw CLIError("\(arguments[0]): \(String(cString: strerror(result)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    guard status == 0 else { throw CLIError("\(arguments.joined(separator: " ")) failed (status \(status))") }
}
