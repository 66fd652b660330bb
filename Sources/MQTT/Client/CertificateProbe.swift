import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

#if canImport(Glibc)
import Glibc
#endif

/// Finds out why the broker's certificate failed verification when BoringSSL only says "verify
/// failed": a second handshake that verifies nothing fetches the certificate, whose dates tell an
/// expired (or not yet valid) certificate from one signed by another CA. It runs only after such a
/// failure, and sends nothing but the handshake.
enum CertificateProbe {
    /// The refined failure for `host:port`, or nil when the dates are fine (the CA is the problem)
    /// or the probe could not tell.
    static func dateFailure(
        host: String, port: Int, serverName: String?, timeout: Duration,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<MQTTConnectionError.TLSFailure?> {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        guard let context = try? NIOSSLContext(configuration: tls) else { return eventLoop.makeSucceededFuture(nil) }
        let found = Lookup(eventLoop.makePromise(of: NIOSSLCertificate?.self))
        let timer = eventLoop.scheduleTask(in: TimeAmount(timeout)) { found.finish(nil) }
        ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(timeout))
            .channelInitializer { channel in
                do {
                    let tlsHandler = try NIOSSLClientHandler(context: context, serverHostname: serverName)
                    try channel.pipeline.syncOperations.addHandler(tlsHandler)
                    try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(found: found))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                switch result {
                case .success(let channel): found.promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                case .failure: found.finish(nil)
                }
            }
        return found.promise.futureResult.map { certificate in
            timer.cancel()
            guard let certificate else { return nil }
            let now = time(nil)
            if certificate.notValidAfter < now { return .expiredCertificate(since: utc(certificate.notValidAfter)) }
            if certificate.notValidBefore > now { return .notYetValidCertificate(from: utc(certificate.notValidBefore)) }
            return nil
        }
    }

    /// "2020-01-02 00:00 UTC".
    static func utc(_ instant: time_t) -> String {
        var seconds = instant
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)) UTC"
    }

    /// The probe's answer, given once, on its event loop.
    private final class Lookup: @unchecked Sendable {
        let promise: EventLoopPromise<NIOSSLCertificate?>
        private var done = false

        init(_ promise: EventLoopPromise<NIOSSLCertificate?>) {
            self.promise = promise
        }

        func finish(_ certificate: NIOSSLCertificate?) {
            guard !done else { return }
            done = true
            promise.succeed(certificate)
        }
    }

    /// Takes the peer's certificate once the handshake is done.
    private final class HandshakeWatcher: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let found: Lookup

        init(found: Lookup) {
            self.found = found
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted? = event as? TLSUserEvent {
                let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
                found.finish(handler?.peerCertificate)
            }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            found.finish(nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            found.finish(nil)
            context.fireChannelInactive()
        }
    }
}
