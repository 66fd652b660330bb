/// Why a GPIO operation failed, worded for the person who has to fix it.
public enum GPIOError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A chip name or path that does not exist; `available` lists those that do.
    case chipNotFound(String, available: [String])
    /// No line with this name on any chip; `available` lists the named lines.
    case lineNotFound(String, available: [String])
    /// The name is on more than one chip; `matches` says where (`gpiochip0:17`).
    case ambiguousLineName(String, matches: [String])
    case offsetOutOfRange(chip: String, offset: Int, lineCount: Int)
    /// Another consumer holds the line.
    case busy(line: String, heldBy: String)
    case permissionDenied(path: String)
    /// A call into the kernel failed with errno.
    case system(operation: String, errno: Int32, message: String)
    /// A line specification that cannot be parsed.
    case invalidLineSpecification(String)
    /// There is no /dev/gpiochip* at all.
    case noChips
    /// An expander specification that cannot be parsed.
    case invalidExpander(String)
    /// The chip cannot do what the settings ask (an expander with no pull-down, say).
    case unsupported(chip: String, detail: String)

    public var description: String {
        switch self {
        case .chipNotFound(let chip, let available):
            available.isEmpty
                ? "GPIO chip \(chip) does not exist: this machine has no GPIO chips"
                : "GPIO chip \(chip) does not exist; chips: \(available.joined(separator: ", "))"
        case .lineNotFound(let name, let available):
            available.isEmpty
                ? "no GPIO line is named \(name), and no line on this machine has a name; use chip:offset"
                : "no GPIO line is named \(name); named lines: \(available.prefix(40).joined(separator: ", "))\(available.count > 40 ? ", ..." : "")"
        case .ambiguousLineName(let name, let matches):
            "the line name \(name) exists on more than one chip (\(matches.joined(separator: ", "))); use chip:offset"
        case .offsetOutOfRange(let chip, let offset, let lineCount):
            "\(chip) has lines 0...\(lineCount - 1); there is no line \(offset)"
        case .busy(let line, let heldBy):
            "line \(line) is busy, held by \(heldBy.isEmpty ? "another consumer (the kernel or a process that gave no name)" : "\"\(heldBy)\"")"
        case .permissionDenied(let path):
            "permission denied on \(path): add the user to the gpio group, or run as root"
        case .system(let operation, let errno, let message):
            "\(operation) failed: \(message) (errno \(errno))"
        case .invalidExpander(let text):
            "\"\(text)\" is not an expander: write MODEL@BUS:ADDRESS[,int=LINE] such as mcp23017@1:0x20,int=GPIO4 (models: pcf8574, mcp23017)"
        case .unsupported(let chip, let detail):
            "\(chip): \(detail)"
        case .noChips:
            "this machine has no GPIO chips (/dev/gpiochip* does not exist)"
        case .invalidLineSpecification(let text):
            "\"\(text)\" is not a line: give a line name (GPIO17) or chip:offset (gpiochip0:17)"
        }
    }
}
