/// Why a connection to the broker failed or ended. Each case names a different thing to fix.
public enum MQTTConnectionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The host name did not resolve.
    case dnsLookupFailed(host: String, detail: String)
    /// TCP could not connect (refused, unreachable).
    case tcpConnectFailed(host: String, port: Int, detail: String)
    /// TCP, TLS and CONNACK together took longer than the connect timeout.
    case connectTimedOut(host: String, port: Int, after: Duration)
    /// The TLS handshake failed.
    case tls(TLSFailure)
    /// The broker answered CONNECT with a failure reason code (a 3.1.1 return code, read as the
    /// 5.0 code it stands for, when `version` is 3.1.1).
    case refused(ReasonCode, reasonString: String?, version: MQTTVersion)
    /// The connection closed before the broker answered CONNECT.
    case closedBeforeConnAck
    /// The connection is up but the broker did not answer CONNECT in time (some 3.1.1-only
    /// brokers ignore a 5.0 CONNECT).
    case noConnAck(after: Duration)
    /// The broker closed the connection without DISCONNECT.
    case closedByBroker
    /// The broker sent DISCONNECT with this reason.
    case disconnectedByBroker(ReasonCode, reasonString: String?)
    /// The broker stayed silent for `silence` despite a PINGREQ (half-open connection).
    case keepAliveTimedOut(silence: Duration)
    /// The broker broke the protocol; we sent DISCONNECT with `code` (5.0), or closed the
    /// connection (3.1.1, which has no reason codes).
    case protocolViolation(ReasonCode, detail: String, version: MQTTVersion)
    /// Another socket error.
    case io(String)

    /// What went wrong in a TLS handshake.
    public enum TLSFailure: Sendable, Equatable, CustomStringConvertible {
        /// The broker's certificate is not signed by a trusted CA.
        case untrustedCertificate(detail: String)
        /// The broker's certificate expired at this time (UTC).
        case expiredCertificate(since: String)
        /// The broker's certificate is valid only from this time (UTC): its clock, or ours, is wrong.
        case notYetValidCertificate(from: String)
        /// The certificate is valid but not for this host name or IP.
        case hostnameMismatch(host: String)
        /// The broker wants a client certificate and we sent none.
        case clientCertificateRequired
        /// The broker did not accept the client certificate we sent (its alert names why).
        case clientCertificateRejected(alert: String)
        /// Another handshake error, named by BoringSSL's reason.
        case handshakeFailed(detail: String)

        public var description: String {
            switch self {
            case .untrustedCertificate(let detail):
                "the broker's certificate is not trusted (wrong CA file?): \(detail)"
            case .expiredCertificate(let since):
                "the broker's certificate expired on \(since): renew it on the broker"
            case .notYetValidCertificate(let from):
                "the broker's certificate is not valid before \(from): check the clock here and on the broker"
            case .hostnameMismatch(let host):
                "the broker's certificate is not valid for \"\(host)\" (hostname verification failed)"
            case .clientCertificateRequired:
                "the broker requires a client certificate (--cert and --key, or tls: {cert: ..., key: ...} in a profile)"
            case .clientCertificateRejected(let alert):
                "the broker does not trust our client certificate (\(alert)): is it signed by a CA the broker's cafile holds?"
            case .handshakeFailed(let detail):
                "TLS handshake failed: \(detail)"
            }
        }
    }

    /// Whether the broker answered and said no (CONNACK with a failure code): trying again soon
    /// will not help, and must not hammer it.
    public var isRefusal: Bool {
        if case .refused = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .dnsLookupFailed(let host, let detail): "cannot resolve host \"\(host)\": \(detail)"
        case .tcpConnectFailed(let host, let port, let detail): "cannot connect to \(host):\(port): \(detail)"
        case .connectTimedOut(let host, let port, let after): "no answer from \(host):\(port) within \(after.formattedSeconds)"
        case .tls(let failure): failure.description
        case .refused(let code, let reason, let version):
            "the broker refused the connection: \(version == .v5 ? code.description : code.v3ConnectDescription)"
                + (reason.map { " (\($0))" } ?? "")
        case .closedBeforeConnAck: "the broker closed the connection before answering CONNECT"
        case .noConnAck(let after): "the broker did not answer CONNECT within \(after.formattedSeconds)"
        case .closedByBroker: "the broker closed the connection"
        case .disconnectedByBroker(let code, let reason):
            "the broker disconnected us: \(code)" + (reason.map { " (\($0))" } ?? "")
        case .keepAliveTimedOut(let silence):
            "no packet from the broker for \(silence.formattedSeconds) despite PINGREQ (connection is half-open)"
        case .protocolViolation(let code, let detail, let version):
            version == .v5
                ? "the broker broke the protocol, disconnected with \(code): \(detail)"
                : "the broker broke the protocol (\(code.name)), closed the connection: \(detail)"
        case .io(let detail): "connection error: \(detail)"
        }
    }
}

/// Why an operation (publish, subscribe, unsubscribe) failed.
public enum MQTTClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidTopicName(String)
    case invalidTopicFilter(String)
    /// Larger than the broker's Maximum Packet Size [MQTT-3.2.2-15].
    case packetTooLarge(size: Int, limit: Int)
    /// The broker answered PUBACK/PUBREC with a failure code (for example 0x87 not authorized).
    case publishRefused(ReasonCode, reasonString: String?)
    case session(ClientSession.SessionError)
    case encoding(String)
    /// The broker did not answer within ``MQTTClientConfiguration/answerTimeout``.
    case noAnswer(String, after: Duration)

    public var description: String {
        switch self {
        case .invalidTopicName(let topic): "\"\(topic)\" is not a valid topic name (empty, or contains + or #)"
        case .invalidTopicFilter(let filter): "\"\(filter)\" is not a valid topic filter"
        case .packetTooLarge(let size, let limit): "the packet is \(size) bytes; the broker accepts at most \(limit)"
        case .publishRefused(let code, let reason):
            "the broker refused the message: \(code)" + (reason.map { " (\($0))" } ?? "")
        case .session(let error): error.description
        case .encoding(let detail): detail
        case .noAnswer(let what, let after): "the broker sent no \(what) within \(after.formattedSeconds)"
        }
    }
}

/// A client configuration that cannot work (a TLS file missing or unreadable, a bad key).
public struct MQTTConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
