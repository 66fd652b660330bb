import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// Turns what NIO and BoringSSL report into an ``MQTTConnectionError`` a user can act on: which
/// stage failed (DNS, TCP, the timeout, TLS and how) and, for an I/O error, what it usually means.
enum ErrorClassification {
    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    /// Names the stage that failed: DNS, TCP or timeout.
    static func classify(connectError error: any Error, host: String, port: Int, timeout: Duration) -> MQTTConnectionError {
        if let connectionError = error as? NIOConnectionError {
            if connectionError.connectionErrors.isEmpty {
                let dnsError = connectionError.dnsAError ?? connectionError.dnsAAAAError
                return .dnsLookupFailed(host: host, detail: dnsError.map { "\($0)" } ?? "no addresses found")
            }
            let details = connectionError.connectionErrors.map { describe($0.error) }
            return .tcpConnectFailed(host: host, port: port, detail: details.joined(separator: "; "))
        }
        if let channelError = error as? ChannelError, case .connectTimeout = channelError {
            return .connectTimedOut(host: host, port: port, after: timeout)
        }
        return .tcpConnectFailed(host: host, port: port, detail: describe(error))
    }

    /// Names a TLS failure precisely; anything else is an I/O error.
    static func classify(channelError error: any Error, host: String) -> MQTTConnectionError {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return .tls(.hostnameMismatch(host: host))
        }
        if let sslError = error as? NIOSSLError {
            switch sslError {
            case .uncleanShutdown:
                return .closedByBroker
            case .handshakeFailed(let boringError):
                return .tls(tlsFailure(reasons: reasons("\(boringError)")))
            default:
                return .tls(.handshakeFailed(detail: "\(sslError)"))
            }
        }
        if let boringError = error as? BoringSSLError {
            return .tls(tlsFailure(reasons: reasons("\(boringError)")))
        }
        return .io(describe(error))
    }

    /// What a handshake failure means, from BoringSSL's reasons (the broker's alerts among them).
    static func tlsFailure(reasons: [String]) -> MQTTConnectionError.TLSFailure {
        if reasons.contains("CERTIFICATE_VERIFY_FAILED") { return .untrustedCertificate(detail: "certificate verify failed") }
        if reasons.contains(where: { $0.hasSuffix("ALERT_CERTIFICATE_REQUIRED") }) { return .clientCertificateRequired }
        let rejections = [
            "ALERT_UNKNOWN_CA", "ALERT_BAD_CERTIFICATE", "ALERT_CERTIFICATE_UNKNOWN", "ALERT_UNSUPPORTED_CERTIFICATE",
            "ALERT_CERTIFICATE_REVOKED", "ALERT_CERTIFICATE_EXPIRED", "ALERT_DECRYPT_ERROR",
        ]
        if let alert = reasons.first(where: { reason in rejections.contains { reason.hasSuffix($0) } }) {
            return .clientCertificateRejected(alert: alert)
        }
        return .handshakeFailed(detail: reasons.isEmpty ? "no reason given" : reasons.joined(separator: ", "))
    }

    /// The reason names in a BoringSSL error text ("...:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA at
    /// /path/tls_record.cc:491"), without codes or source paths.
    static func reasons(_ text: String) -> [String] {
        var reasons: [String] = []
        for part in text.split(separator: "OPENSSL_internal:", omittingEmptySubsequences: false).dropFirst() {
            let name = String(part.prefix { $0.isUppercase || $0.isNumber || $0 == "_" })
            if !name.isEmpty && !reasons.contains(name) { reasons.append(name) }
        }
        return reasons
    }

    private static func describe(_ error: any Error) -> String {
        if let ioError = error as? IOError {
            switch ioError.errnoCode {
            case ECONNREFUSED: return "connection refused (is the broker running and listening on this port?)"
            case ENETUNREACH, EHOSTUNREACH: return "network unreachable"
            case ECONNRESET: return "connection reset by peer"
            case ETIMEDOUT: return "timed out"
            default: return "\(ioError)"
            }
        }
        return "\(error)"
    }
}
