#if canImport(Glibc)
import Glibc
#endif

/// What makes this machine's default client ids its own. Several boards often run one profile
/// (the tutorial's, say); with the same client id each connect would take the other's session
/// over, as two ESP8266 sketches would without the MAC they append.
public enum MachineIdentity {
    /// Six hex digits derived from /etc/machine-id (its host name when there is none): stable
    /// across restarts, different between machines, and revealing nothing of the machine id
    /// itself, which must not be published (machine-id(5)).
    public static let suffix: String = {
        let source = firstLine(of: "/etc/machine-id") ?? hostName() ?? "unknown"
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "gpiobridge client id:\(source)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash >> 40, radix: 16)
        return String(repeating: "0", count: 6 - hex.count) + hex
    }()

    /// The default client id of the device or relay `id`.
    public static func defaultClientID(for id: String) -> String { "gpiobridge-\(id)-\(suffix)" }

    private static func firstLine(of path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = read(fd, &buffer, buffer.count)
        guard count > 0 else { return nil }
        let line = String(decoding: buffer[..<count].prefix { $0 != 0x0A }, as: UTF8.self)
        return line.isEmpty ? nil : line
    }

    private static func hostName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }
}
