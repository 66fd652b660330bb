import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `gpiobridge` binary that `swift build` made, run as a user would.
let gpiobridge = packageRoot + "/.build/debug/gpiobridge"

func run(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(20)) async throws
    -> (status: Int32, output: String)
{
    guard FileManager.default.isExecutableFile(atPath: gpiobridge) else {
        throw HarnessError("\(gpiobridge) is missing: run `swift build` first")
    }
    return try await runProgram(gpiobridge, arguments, environment: environment, timeout: timeout)
}

@Suite("gpiobridge pub and sub against Mosquitto")
struct CLITests {
    @Test("sub and pub round-trip over TLS with a CA file, user and password, and hostname verification", .needsMosquitto)
    func tlsRoundTrip() async throws {
        try await withMosquitto { broker in
            let tls = [
                "-h", "localhost", "-p", "\(broker.ports.tls)", "--cafile", try await TestPKI.path("ca.crt"),
                "-u", "alice", "-P", "secret",
            ]
            async let subscriber = run(["sub"] + tls + ["-t", "test", "-C", "1", "-v"])
            // Publish until the subscriber is there to see it (it may still be connecting).
            // The subscription is checked before each publish, so the last one goes out after it.
            for _ in 0..<50 {
                let subscribed = broker.log.contains("Received SUBSCRIBE")
                let result = try await run(["pub"] + tls + ["-t", "test", "-m", "42", "-q", "1"])
                #expect(result.status == 0, "pub failed: \(result.output)")
                if subscribed { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let result = try await subscriber
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.hasPrefix("test 42\n"))
        }
    }

    @Test(
        "-c keeps the session (MQTT 5 and 3.1.1): a QoS 1 message sent meanwhile is delivered on return; -x 0 ends it at disconnect", .needsMosquitto)
    func keptSession() async throws {
        try await withMosquitto { broker in
            let port = "\(broker.ports.plain)"
            for (id, extra) in [("keep5", [String]()), ("keep311", ["-V", "311"])] {
                let away = try await run(["sub", "-p", port, "-c", "-i", id, "-q", "1", "-t", "kept/\(id)", "-W", "1"] + extra)
                #expect(away.status == 27, "\(away.output)")
                _ = try await run(["pub", "-p", port, "-t", "kept/\(id)", "-m", "while away", "-q", "1"])
                let back = try await run(["sub", "-p", port, "-c", "-i", id, "-q", "1", "-t", "kept/\(id)", "-C", "1", "-W", "5", "-v"] + extra)
                #expect(back.status == 0 && back.output.hasPrefix("kept/\(id) while away\n"), "\(id): \(back.output)")
            }
            _ = try await run(["sub", "-p", port, "-c", "-x", "0", "-i", "brief", "-q", "1", "-t", "kept/brief", "-W", "1"])
            _ = try await run(["pub", "-p", port, "-t", "kept/brief", "-m", "lost", "-q", "1"])
            let ended = try await run(["sub", "-p", port, "-c", "-i", "brief", "-q", "1", "-t", "kept/brief", "-W", "2"])
            #expect(ended.status == 27 && !ended.output.contains("lost"), "the session ended with the connection: \(ended.output)")
            let noID = try await run(["sub", "-p", port, "-c", "-t", "x"])
            #expect(noID.status == 64 && noID.output.contains("-c needs a client id (-i)"))
        }
    }

    @Test("--will-topic and friends: a client killed without DISCONNECT has its will published (retained, QoS 1)", .needsMosquitto)
    func will() async throws {
        try await withMosquitto { broker in
            let port = "\(broker.ports.plain)"
            let doomed = try ChildProcess(
                gpiobridge,
                [
                    "sub", "-p", port, "-i", "doomed", "-t", "x", "--will-topic", "gone/doomed",
                    "--will-payload", "bye", "--will-qos", "1", "--will-retain",
                ])
            try await eventually("the client is connected") { broker.log.contains("as doomed") }
            doomed.signal(SIGKILL)
            let seen = try await run(["sub", "-p", port, "-t", "gone/doomed", "-C", "1", "-W", "10", "-v"])
            #expect(seen.output == "gone/doomed bye\n", "\(seen.output)")
            await doomed.terminate()
            let orphan = try await run(["sub", "-p", port, "-t", "x", "--will-payload", "bye"])
            #expect(orphan.status == 64 && orphan.output.contains("need --will-topic"))
        }
    }

    @Test("an unprivileged user connects (TCP_NODELAY is set at IPPROTO_TCP, not as SO_DEBUG, which needs root)", .needsMosquitto)
    func unprivilegedConnect() async throws {
        guard getuid() == 0 else { return }  // Already unprivileged: every other test here is this one.
        try await withMosquitto { broker in
            let result = try await runProgram(
                "/usr/sbin/runuser",
                [
                    "-u", "nobody", "--", gpiobridge, "pub", "-h", "127.0.0.1",
                    "-p", "\(broker.ports.plain)", "-t", "test/nobody", "-m", "1", "-q", "1",
                ])
            #expect(result.status == 0, "\(result.output)")
        }
    }

    @Test("a broker URL with a user and password is refused without repeating them")
    func credentialsInURL() async throws {
        for arguments in [
            ["agent", "--simulate", "--broker", "mqtt://alice:s3cret@127.0.0.1:1883"],
            ["relay", "--broker", "mqtts://alice:s3cret@broker.example:8883"],
        ] {
            let result = try await run(arguments)
            #expect(result.status == 64, "\(result.output)")
            #expect(result.output.contains("a user or password in the URL is not taken"), "\(result.output)")
            #expect(!result.output.contains("s3cret"), "\(result.output)")
        }
    }

    @Test("a wrong CA, a bad password and a closed port each fail with a message that names the cause", .needsMosquitto)
    func errors() async throws {
        try await withMosquitto { broker in
            let wrongCA = try await run([
                "pub", "-h", "localhost", "-p", "\(broker.ports.tls)", "--cafile",
                try await TestPKI.path("other-ca.crt"), "-u", "alice", "-P", "secret",
                "-t", "test", "-m", "42", "-q", "1",
            ])
            #expect(wrongCA.status == 1)
            #expect(wrongCA.output.contains("Error: the broker's certificate is not trusted (wrong CA file?)"), "\(wrongCA.output)")

            let wrongHost = try await run([
                "pub", "-h", "localhost", "-p", "\(broker.ports.wrongHost)", "--cafile",
                try await TestPKI.path("ca.crt"), "-t", "test", "-m", "1",
            ])
            #expect(wrongHost.status == 1)
            #expect(wrongHost.output.contains("is not valid for \"localhost\""), "\(wrongHost.output)")

            let badPassword = try await run([
                "pub", "-h", "127.0.0.1", "-p", "\(broker.ports.auth)", "-u", "alice", "-P", "nope",
                "-t", "test", "-m", "42",
            ])
            #expect(badPassword.status == 1)
            #expect(
                badPassword.output.contains("Error: the broker refused the connection: not authorized (0x87)"),
                "\(badPassword.output)")

            let closedPort = try freePort()
            let refused = try await run(["pub", "-h", "127.0.0.1", "-p", "\(closedPort)", "-t", "test", "-m", "42"])
            #expect(refused.status == 1)
            #expect(refused.output.contains("connection refused"), "\(refused.output)")

            let missingCA = try await run(["pub", "--cafile", "/nonexistent/ca.crt", "-t", "test", "-m", "42"])
            #expect(missingCA.status == 1)
            #expect(missingCA.output.contains("Error: CA file /nonexistent/ca.crt: No such file or directory"), "\(missingCA.output)")

            let badTopic = try await run(["pub", "-t", "a/#", "-m", "42"])
            #expect(badTopic.status == 64, "a usage error")
            #expect(badTopic.output.contains("not a valid topic name"))
        }
    }

    @Test("sub -W ends with exit code 27 when nothing arrives; -V 311 speaks 3.1.1", .needsMosquitto)
    func timeoutAndVersion() async throws {
        try await withMosquitto { broker in
            let result = try await run(["sub", "-h", "127.0.0.1", "-p", "\(broker.ports.plain)", "-t", "quiet/#", "-W", "1", "-V", "311"])
            #expect(result.status == 27)
            #expect(broker.log.contains("(p2, c1, k60)"), "mosquitto logs protocol level 4 as p2")
        }
    }

    @Test("usage errors exit 64 and say what was meant; --version and --help exit 0")
    func usageErrors() async throws {
        let misspelled = try await run(["pub", "--cafiel", "ca.crt", "-t", "a", "-m", "1"])
        #expect(misspelled.status == 64)
        #expect(misspelled.output.contains("Error: unknown option --cafiel (did you mean --cafile?)"), "\(misspelled.output)")
        #expect(misspelled.output.contains("Usage: gpiobridge pub [options]"))
        let command = try await run(["gpoi", "detect"])
        #expect(command.status == 64)
        #expect(command.output.contains("Error: gpiobridge has no command \"gpoi\" (did you mean gpio?)"), "\(command.output)")
        let model = try await run(["sensor", "read", "bme28", "--bus", "1"])
        #expect(model.status == 64 && model.output.contains("(did you mean bme280?)"), "\(model.output)")
        let value = try await run(["gpio", "monitor", "--edge", "up", "GPIO4"])
        #expect(value.status == 64 && value.output.contains("--edge: \"up\" is not one of none, rising, falling, both"), "\(value.output)")
        let version = try await run(["--version"])
        #expect(version.status == 0 && version.output.hasPrefix("gpiobridge 0.1.0 (libgpiod v"), "\(version.output)")
        let help = try await run(["gpio", "set", "--help"])
        #expect(help.status == 0 && help.output.contains("--hold SECONDS"), "\(help.output)")
    }
}

@Suite("gpiobridge profile validate and show")
struct ProfileCLITests {
    @Test("a valid profile exits 0; an invalid one, or one whose password file is missing, exits 2 with file:line:column, the key path and a fix")
    func validate() async throws {
        // relay.yml names mqtt-password beside it: missing, validate says where and how to fix it.
        let directory = NSTemporaryDirectory() + "validate-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: packageRoot + "/Profiles/relay.yml", toPath: directory + "/relay.yml")
        let missing = try await run(["profile", "validate", directory + "/relay.yml"])
        #expect(missing.status == 2)
        #expect(
            missing.output.contains(
                "\(directory)/relay.yml:14:18: broker.password_file: the password file \(directory)/mqtt-password does not exist (fix: create it; a relative path is beside the profile)"
            ),
            "\(missing.output)")
        try "secret\n".write(toFile: directory + "/mqtt-password", atomically: true, encoding: .utf8)
        let valid = try await run(["profile", "validate", directory + "/relay.yml"])
        #expect(valid.status == 0)
        #expect(valid.output.contains("relay.yml: valid (device garage-pi; 4 outputs)"), "\(valid.output)")
        let broken = packageRoot + "/Tests/ProfileTests/BrokenProfiles/unknown-key.yml"
        let invalid = try await run(["profile", "validate", broken])
        #expect(invalid.status == 2)
        #expect(
            invalid.output.contains("\(broken):6:5: outputs[0].activ_low: unknown setting \"activ_low\" (fix: did you mean \"active_low\"?)"),
            "\(invalid.output)")
        #expect(invalid.output.contains("1 issue; the profile was not used"))
        // Several profiles: each is validated, then where they would collide in one fleet is a warning.
        try "device: {id: tutorial}\npublishers: [{name: number, topic: test, interval: 3s, random: {min: 1, max: 499}}]\n"
            .write(toFile: directory + "/pi.yml", atomically: true, encoding: .utf8)
        let fleet = try await run(["profile", "validate", packageRoot + "/Profiles/fleet.yml", directory + "/pi.yml", broken])
        #expect(fleet.status == 2, "one of them is invalid")
        #expect(fleet.output.contains("fleet.yml: a valid relay profile") && fleet.output.contains("pi.yml: valid (device tutorial; 1 publisher)"))
        #expect(
            fleet.output.contains("fleet.yml:39:11: warning: boards[2].name: the device id tutorial is already the agent of \(directory)/pi.yml"),
            "\(fleet.output)")
        #expect(fleet.output.contains("pi.yml:2:36: warning: publishers[0].topic: the agent publishes to test"), "\(fleet.output)")
    }

    @Test("show prints the defaults and the topics")
    func show() async throws {
        let shown = try await run(["profile", "show", packageRoot + "/Profiles/tutorial.yml"])
        #expect(shown.status == 0)
        for line in [
            "  port: 8883", "  password_env: MQTT_PASSWORD", "  # status: gpiobridge/tutorial-pi/status (online / offline, retained; the will)",
            "    topic: gpiobridge/tutorial-pi/number", "    interval: 3s", "  - {topic: test, qos: 0}", "  broker_grace: 30s",
        ] {
            #expect(shown.output.contains(line), "missing \(line) in\n\(shown.output)")
        }
        // What show prints is a profile: shown again, it prints the same.
        let path = NSTemporaryDirectory() + "shown-\(UUID().uuidString.prefix(8)).yml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try shown.output.write(toFile: path, atomically: true, encoding: .utf8)
        let again = try await run(["profile", "show", path])
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.split(separator: "\n").dropFirst() == shown.output.split(separator: "\n").dropFirst())
    }
}
