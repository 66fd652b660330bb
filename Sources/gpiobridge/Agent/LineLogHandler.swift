import Logging

#if canImport(Glibc)
import Glibc
#endif

/// One line per event on standard error: `warning agent: refused a command topic=... reason=...`.
/// Under systemd (JOURNAL_STREAM set) each line starts with its syslog priority (`<4>`), so
/// journald records the level and leaves out a timestamp of ours.
struct LineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    private let journal = getenv("JOURNAL_STREAM") != nil

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        var line = journal ? "<\(priority(event.level))>" : ""
        line += "\(event.level) \(label): \(event.message)"
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            let text = "\(value)"
            let quoted = text.isEmpty || text.contains(" ") || text.contains("\"")
            line += " \(key)=" + (quoted ? "\"" + text.replacingQuotes() + "\"" : text)
        }
        line += "\n"
        line.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
    }

    private func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}

extension String {
    fileprivate func replacingQuotes() -> String {
        var escaped = ""
        for character in self {
            if character == "\"" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}
