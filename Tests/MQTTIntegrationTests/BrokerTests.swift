import Foundation
import MQTT
import NIOCore
import Testing

/// The client against a real Mosquitto: every listener kind, both protocol versions.
@Suite("Mosquitto: listeners and delivery", .serialized, .needsMosquitto)
struct BrokerTests {
    @Test("publish and receive at QoS 0, 1 and 2 with retain", arguments: [MQTTVersion.v5, .v3_1_1])
    func roundTrip(version: MQTTVersion) async throws {
        try await withMosquitto { broker in
            let publisher = try MQTTClient(
                configuration: clientConfiguration(port: broker.ports.plain, "pub", version: version),
                logger: testLogger("pub"))
            let subscriber = try MQTTClient(
                configuration: clientConfiguration(port: broker.ports.plain, "sub", version: version),
                logger: testLogger("sub"))
            let inbox = Inbox(subscriber)
            try await withRunningClients([publisher, subscriber]) {
                let granted = try await subscriber.subscribe([Subscription(TopicFilter("test/#")!, qos: .exactlyOnce)])
                #expect(granted == [.grantedQoS2])
                try await publisher.publish(to: "test/q0", payload: "zero", qos: .atMostOnce)
                try await publisher.publish(to: "test/q1", payload: "one", qos: .atLeastOnce)
                try await publisher.publish(to: "test/q2", payload: "two", qos: .exactlyOnce, retain: true)
                let messages = try await inbox.wait(for: 3)
                #expect(
                    Set(messages.map { "\($0.topic)=\($0.payloadString)@\($0.qos)" })
                        == ["test/q0=zero@0", "test/q1=one@1", "test/q2=two@2"])
            }
            // A new subscriber gets the retained message, flagged as retained.
            let late = try MQTTClient(
                configuration: clientConfiguration(port: broker.ports.plain, "late", version: version),
                logger: testLogger("late"))
            let lateInbox = Inbox(late)
            try await withRunningClients([late]) {
                _ = try await late.subscribe(to: "test/q2", qos: .atLeastOnce)
                let retained = try await lateInbox.wait(for: 1)
                #expect(retained.first?.retain == true)
                #expect(retained.first?.payloadString == "two")
            }
        }
    }

    @Test("a client that pauses reading gets nothing until it resumes, then every QoS 1 message in order")
    func pausedReading() async throws {
        try await withPublisherAndSubscriber { publisher, subscriber, inbox in
            _ = try await subscriber.subscribe([Subscription(TopicFilter("paused/#")!, qos: .atLeastOnce)])
            try await subscriber.eventLoop.submit { subscriber.pauseReading() }.get()
            for index in 0..<50 { try await publisher.publish(to: "paused/\(index)", payload: "\(index)", qos: .atLeastOnce) }
            try await Task.sleep(for: .milliseconds(300))
            #expect(inbox.messages.isEmpty, "nothing is read while paused")
            try await subscriber.eventLoop.submit { subscriber.resumeReading() }.get()
            let messages = try await inbox.wait(for: 50)
            #expect(messages.map(\.payloadString) == (0..<50).map { "\($0)" })
        }
    }

    @Test("subscribe and unsubscribe requests reach the broker in the order they were made")
    func requestOrder() async throws {
        try await withMosquitto { broker in
            let client = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "order"), logger: testLogger("order"))
            let inbox = Inbox(client)
            try await withRunningClients([client]) {
                let filter = TopicFilter("order/x")!
                _ = try await client.subscribe([Subscription(filter)])
                // Withdrawn and made again at once, many times: the last request is a subscription.
                for _ in 0..<50 {
                    _ = client.requestUnsubscription([filter])
                    _ = client.requestSubscription([Subscription(filter)])
                }
                _ = try await client.requestSubscription([Subscription(TopicFilter("order/done")!)]).get()
                try await client.publish(to: "order/x", payload: "still subscribed", qos: .atLeastOnce)
                try await inbox.expectMessage("order/x", "still subscribed")
            }
        }
    }

    @Test("5.0 properties survive the broker: content type, expiry, user properties, response topic")
    func properties() async throws {
        try await withPublisherAndSubscriber { publisher, subscriber, inbox in
            _ = try await subscriber.subscribe(to: "test/props", qos: .atLeastOnce)
            var properties = MQTTProperties()
            properties.contentType = "application/json"
            properties.messageExpiryInterval = 600
            properties.responseTopic = "test/reply"
            properties.correlationData = ByteBuffer(bytes: [1, 2, 3])
            properties.userProperties = [UserProperty("source", "gpiobridge")]
            // Several publishes on one topic: the publisher uses topic aliases (mosquitto allows 10).
            for index in 0..<5 {
                try await publisher.publish(
                    MQTTMessage(
                        topic: "test/props", payload: "{\"n\":\(index)}", qos: .atLeastOnce,
                        properties: properties))
            }
            let messages = try await inbox.wait(for: 5)
            #expect(messages.map(\.payloadString) == (0..<5).map { "{\"n\":\($0)}" })
            for message in messages {
                #expect(message.topic == "test/props")
                #expect(message.properties.contentType == "application/json")
                #expect(message.properties.responseTopic == "test/reply")
                #expect(message.properties.correlationData == ByteBuffer(bytes: [1, 2, 3]))
                #expect(message.properties.userProperties == [UserProperty("source", "gpiobridge")])
                #expect((message.properties.messageExpiryInterval ?? 0) > 590)
            }
        }
    }

    @Test("user name, password and ACL: accepted, a bad password refused, an ACL-denied publish answered 0x87")
    func passwordAndACL() async throws {
        try await withMosquitto { broker in
            // Mosquitto drops the connection after an ACL-denied publish: these clients reconnect.
            var good = clientConfiguration(port: broker.ports.auth, "alice")
            good.username = "alice"
            good.password = "secret"
            var readOnly = clientConfiguration(port: broker.ports.auth, "bob")
            readOnly.username = "bob"
            readOnly.password = "bobpw"
            let alice = try MQTTClient(configuration: good, logger: testLogger("alice"))
            let bob = try MQTTClient(configuration: readOnly, logger: testLogger("bob"))
            let inbox = Inbox(bob)
            try await withRunningClients([alice, bob]) {
                _ = try await bob.subscribe(to: "test/#")
                try await alice.publish(to: "test/acl", payload: "allowed", qos: .atLeastOnce)
                #expect(try await inbox.wait(for: 1).first?.payloadString == "allowed")
                await #expect(throws: MQTTClientError.publishRefused(.notAuthorized, reasonString: nil)) {
                    try await bob.publish(to: "test/acl", payload: "denied", qos: .atLeastOnce)
                }
            }

            for version in [MQTTVersion.v5, .v3_1_1] {
                var wrong = clientConfiguration(port: broker.ports.auth, "mallory", version: version, reconnect: .never)
                wrong.username = "alice"
                wrong.password = "wrong"
                let client = try MQTTClient(configuration: wrong, logger: testLogger("mallory"))
                do {
                    try await client.run()
                    Issue.record("a wrong password must fail")
                } catch let error as MQTTConnectionError {
                    // Mosquitto 2.0 answers a bad password with 0x87 (5.0) or return code 5 (3.1.1),
                    // both "not authorized", each said in its protocol's words.
                    guard case .refused(let code, _, let refusedVersion) = error else {
                        Issue.record("expected a refusal, got \(error)")
                        continue
                    }
                    #expect(code == .notAuthorized)
                    #expect(refusedVersion == version)
                    #expect(
                        "\(error)"
                            == (version == .v5
                                ? "the broker refused the connection: not authorized (0x87)"
                                : "the broker refused the connection: not authorized (return code 5)"))
                }
            }
        }
    }

    @Test("TLS with a CA file and hostname verification, for localhost and for 127.0.0.1")
    func tls() async throws {
        try await withMosquitto { broker in
            for host in ["localhost", "127.0.0.1"] {
                var configuration = clientConfiguration(port: broker.ports.tls, "tls", reconnect: .never)
                configuration.host = host
                configuration.username = "alice"
                configuration.password = "secret"
                configuration.tls = MQTTTLSOptions(caFile: try await TestPKI.path("ca.crt"))
                let client = try MQTTClient(configuration: configuration, logger: testLogger("tls"))
                let inbox = Inbox(client)
                try await withRunningClients([client]) {
                    _ = try await client.subscribe(to: "test/tls")
                    try await client.publish(to: "test/tls", payload: "secure", qos: .exactlyOnce)
                    #expect(try await inbox.wait(for: 1).first?.payloadString == "secure")
                }
            }
        }
    }

    @Test("TLS failures name their cause: wrong CA, wrong host name, an expired certificate, missing or untrusted client certificate")
    func tlsFailures() async throws {
        try await withMosquitto { broker in
            func connect(port: Int, _ tls: MQTTTLSOptions, host: String = "localhost") async throws -> MQTTConnectionError? {
                var configuration = clientConfiguration(port: port, "tls", reconnect: .never)
                configuration.host = host
                configuration.username = "alice"
                configuration.password = "secret"
                configuration.tls = tls
                let client = try MQTTClient(configuration: configuration, logger: testLogger("tls"))
                do {
                    try await client.run()
                    return nil
                } catch let error as MQTTConnectionError {
                    return error
                }
            }
            let wrongCA = try await connect(port: broker.ports.tls, MQTTTLSOptions(caFile: try await TestPKI.path("other-ca.crt")))
            guard case .tls(.untrustedCertificate)? = wrongCA else {
                Issue.record("wrong CA gave \(String(describing: wrongCA))")
                return
            }
            let wrongHost = try await connect(port: broker.ports.wrongHost, MQTTTLSOptions(caFile: try await TestPKI.path("ca.crt")))
            guard case .tls(.hostnameMismatch(let host))? = wrongHost else {
                Issue.record("wrong host gave \(String(describing: wrongHost))")
                return
            }
            #expect(host == "localhost")
            let expired = try await connect(port: broker.ports.expired, MQTTTLSOptions(caFile: try await TestPKI.path("ca.crt")))
            guard case .tls(.expiredCertificate(let since))? = expired else {
                Issue.record("an expired certificate gave \(String(describing: expired))")
                return
            }
            #expect(since == "2020-01-02 00:00 UTC")
            #expect("\(expired!)" == "the broker's certificate expired on 2020-01-02 00:00 UTC: renew it on the broker")
            let noClientCertificate = try await connect(port: broker.ports.mtls, MQTTTLSOptions(caFile: try await TestPKI.path("ca.crt")))
            guard case .tls(.clientCertificateRequired)? = noClientCertificate else {
                Issue.record("mTLS without a certificate gave \(String(describing: noClientCertificate))")
                return
            }
            #expect("\(noClientCertificate!)".hasPrefix("the broker requires a client certificate (--cert and --key"))
            let untrustedClient = try await connect(
                port: broker.ports.mtls,
                MQTTTLSOptions(
                    caFile: try await TestPKI.path("ca.crt"), certificateFile: try await TestPKI.path("rogue-client.crt"),
                    keyFile: try await TestPKI.path("rogue-client.key")))
            guard case .tls(.clientCertificateRejected(let alert))? = untrustedClient else {
                Issue.record("mTLS with a certificate from another CA gave \(String(describing: untrustedClient))")
                return
            }
            #expect(alert == "TLSV1_ALERT_UNKNOWN_CA")
            #expect(!"\(untrustedClient!)".contains("/"), "no build path in the message")
            // --insecure connects to the wrong-host listener (with a warning).
            #expect(
                try await withTimeout(.seconds(10), "insecure connection") {
                    var configuration = clientConfiguration(port: broker.ports.wrongHost, "insecure", reconnect: .never)
                    configuration.tls = MQTTTLSOptions(insecure: true)
                    let log = CapturedLog()
                    let client = try MQTTClient(configuration: configuration, logger: log.logger())
                    try await withRunningClients([client]) {}
                    return log.all.contains { $0.level == .warning && $0.message.contains("verification are OFF") }
                })
        }
    }

    @Test("two clients with one id on a stock Mosquitto knock each other off, and the log says why, naming the id")
    func sessionTakenOver() async throws {
        try await withMosquitto { broker in
            let shared = clientConfiguration(port: broker.ports.plain, "shared")
            // Mosquitto closes the older connection without a DISCONNECT: the clients see a close and
            // an accepted reconnect, again and again, and one of them says what it probably is.
            let log = CapturedLog()
            let first = try MQTTClient(configuration: shared, logger: log.logger())
            let second = try MQTTClient(configuration: shared, logger: log.logger())
            try await withRunningClients([first]) {
                try await withRunningClients([second]) {
                    try await eventually("the log line", timeout: .seconds(30)) {
                        log.all.contains {
                            $0.level == .warning
                                && $0.message.hasSuffix(
                                    "another client is probably using the client id \(shared.clientID), and each takes the other's session over (give each its own id)"
                                )
                        }
                    }
                }
            }
        }
    }

    @Test("mutual TLS: the client certificate's CN is the user the ACL knows")
    func mutualTLS() async throws {
        try await withMosquitto { broker in
            var configuration = clientConfiguration(port: broker.ports.mtls, "mtls")
            configuration.host = "localhost"
            configuration.tls = MQTTTLSOptions(
                caFile: try await TestPKI.path("ca.crt"), certificateFile: try await TestPKI.path("client.crt"),
                keyFile: try await TestPKI.path("client.key"))
            let client = try MQTTClient(configuration: configuration, logger: testLogger("mtls"))
            let inbox = Inbox(client)
            try await withRunningClients([client]) {
                _ = try await client.subscribe(to: "test/mtls")
                try await client.publish(to: "test/mtls", payload: "mutual", qos: .atLeastOnce)
                #expect(try await inbox.wait(for: 1).first?.payloadString == "mutual")
                // client1 may not publish outside test/#.
                await #expect(throws: MQTTClientError.publishRefused(.notAuthorized, reasonString: nil)) {
                    try await client.publish(to: "gpiobridge/x", payload: "no", qos: .atLeastOnce)
                }
            }
        }
    }

    @Test("bad TLS files fail at construction with a clear message")
    func badTLSFiles() async throws {
        var configuration = clientConfiguration(port: 8883, "bad")
        configuration.tls = MQTTTLSOptions(caFile: "/nonexistent/ca.crt")
        #expect(throws: MQTTConfigurationError.self) { try MQTTClient(configuration: configuration, logger: testLogger("bad")) }
        configuration.tls = MQTTTLSOptions(caFile: try await TestPKI.path("ca.key"))
        let error = #expect(throws: MQTTConfigurationError.self) { try MQTTClient(configuration: configuration, logger: testLogger("bad")) }
        #expect(error?.description.contains("no PEM certificate") == true)
        configuration.tls = MQTTTLSOptions(
            caFile: try await TestPKI.path("ca.crt"), certificateFile: try await TestPKI.path("client.crt"),
            keyFile: try await TestPKI.path("server.key"))
        let mismatch = #expect(throws: MQTTConfigurationError.self) { try MQTTClient(configuration: configuration, logger: testLogger("bad")) }
        #expect(mismatch?.description.contains("key") == true)
    }
}

/// A publisher and a subscriber (with its inbox) running against a new Mosquitto.
private func withPublisherAndSubscriber(_ body: @escaping @Sendable (MQTTClient, MQTTClient, Inbox) async throws -> Void) async throws {
    try await withMosquitto { broker in
        let publisher = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "pub"), logger: testLogger("pub"))
        let subscriber = try MQTTClient(configuration: clientConfiguration(port: broker.ports.plain, "sub"), logger: testLogger("sub"))
        let inbox = Inbox(subscriber)
        try await withRunningClients([publisher, subscriber]) { try await body(publisher, subscriber, inbox) }
    }
}
