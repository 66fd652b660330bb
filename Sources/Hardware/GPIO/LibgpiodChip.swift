import CGPIOShim
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A kernel GPIO chip (`/dev/gpiochipN`) through libgpiod.
public final class LibgpiodChip: GPIOChip {
    public let info: GPIOChipInfo
    private let handle: Mutex<OpaquePointer?>

    /// The libgpiod API this build uses and its version, such as "v1 1.6.3".
    public static var libraryVersion: String { String(cString: gb_library_version()) }

    /// Opens the chip at `path`.
    public init(path: String) throws {
        guard let chip = gb_chip_open(path) else {
            let error = errno
            if error == EACCES || error == EPERM { throw GPIOError.permissionDenied(path: path) }
            if error == ENOENT { throw GPIOError.chipNotFound(path, available: GPIOChips.chipPaths()) }
            throw GPIOError.system(operation: "opening \(path)", errno: error, message: String(cString: strerror(error)))
        }
        var name = [CChar](repeating: 0, count: 64)
        var label = [CChar](repeating: 0, count: 64)
        var lineCount: UInt32 = 0
        _ = gb_chip_describe(chip, &name, name.count, &label, label.count, &lineCount)
        self.info = GPIOChipInfo(name: cString(name), label: cString(label), lineCount: Int(lineCount), path: path)
        self.handle = Mutex(chip)
    }

    deinit {
        handle.withLock { chip in
            if let chip { gb_chip_close(chip) }
            chip = nil
        }
    }

    public func lineInfo(offset: Int) throws -> GPIOLineInfo {
        guard (0..<info.lineCount).contains(offset) else {
            throw GPIOError.offsetOutOfRange(chip: info.name, offset: offset, lineCount: info.lineCount)
        }
        var raw = gb_line_info()
        let result = handle.withLock { chip in gb_line_describe(chip, UInt32(offset), &raw) }
        guard result == 0 else {
            let error = errno
            throw GPIOError.system(
                operation: "reading line \(offset) of \(info.name)", errno: error,
                message: String(cString: strerror(error)))
        }
        return GPIOLineInfo(
            offset: offset,
            name: cString(raw.name),
            consumer: cString(raw.consumer),
            isUsed: raw.used != 0,
            direction: raw.direction == Int32(GB_DIRECTION_OUTPUT.rawValue) ? .output : .input,
            activeLow: raw.active_low != 0,
            bias: LineBias(raw.bias),
            drive: LineDrive(raw.drive))
    }

    public func requestLines(_ offsets: [Int], settings: LineSettings, initialValues: [Bool]?, consumer: String) throws
        -> any LineRequest
    {
        for offset in offsets where !(0..<info.lineCount).contains(offset) {
            throw GPIOError.offsetOutOfRange(chip: info.name, offset: offset, lineCount: info.lineCount)
        }
        // libgpiod v1 has no kernel debounce: request plain edges and debounce them in software.
        let softwareDebounce = settings.debounceMicroseconds > 0 && Self.libraryVersion.hasPrefix("v1")
        var config = gb_line_config(
            direction: Int32(settings.direction == .output ? GB_DIRECTION_OUTPUT.rawValue : GB_DIRECTION_INPUT.rawValue),
            active_low: settings.activeLow ? 1 : 0,
            drive: settings.drive.shimValue,
            bias: settings.bias.shimValue,
            edge: settings.edge.shimValue,
            debounce_us: softwareDebounce ? 0 : settings.debounceMicroseconds)
        let rawOffsets = offsets.map { UInt32($0) }
        let values = (initialValues ?? Array(repeating: false, count: offsets.count)).map { Int32($0 ? 1 : 0) }
        let request = handle.withLock { chip in
            gb_request_lines(chip, consumer, rawOffsets, rawOffsets.count, &config, values)
        }
        guard let request else {
            let error = errno
            if error == EBUSY {
                let held = offsets.compactMap { try? lineInfo(offset: $0) }.first { $0.isUsed }
                let line = held.map { describe($0) } ?? "\(info.name):\(offsets.map(String.init).joined(separator: ","))"
                throw GPIOError.busy(line: line, heldBy: held?.consumer ?? "")
            }
            throw GPIOError.system(
                operation: "requesting lines \(offsets) of \(info.name)", errno: error,
                message: String(cString: strerror(error)))
        }
        return LibgpiodLineRequest(
            owner: self, offsets: offsets, settings: settings, softwareDebounce: softwareDebounce,
            request: request)
    }

    /// `gpiochip0:17 (GPIO17)`.
    func describe(_ line: GPIOLineInfo) -> String {
        line.name.isEmpty ? "\(info.name):\(line.offset)" : "\(info.name):\(line.offset) (\(line.name))"
    }
}

/// Lines requested through libgpiod.
final class LibgpiodLineRequest: LineRequest {
    /// libgpiod v1 releases a chip's lines when the chip is closed: the request keeps it open.
    private let owner: LibgpiodChip
    let offsets: [Int]
    let settings: LineSettings
    private let softwareDebounce: Bool
    private let handle: Mutex<OpaquePointer?>
    private let watcher = Mutex<EdgeEventWatcher?>(nil)

    var chip: GPIOChipInfo { owner.info }

    init(owner: LibgpiodChip, offsets: [Int], settings: LineSettings, softwareDebounce: Bool, request: sending OpaquePointer) {
        self.owner = owner
        self.offsets = offsets
        self.settings = settings
        self.softwareDebounce = softwareDebounce
        self.handle = Mutex(request)
    }

    deinit {
        release()
    }

    func setValues(_ values: [Bool]) throws {
        guard values.count == offsets.count else {
            throw GPIOError.system(operation: "setting values", errno: EINVAL, message: "expected \(offsets.count) values")
        }
        let raw = values.map { Int32($0 ? 1 : 0) }
        try withRequest("setting lines \(offsets) of \(chip.name)") { gb_request_set_values($0, raw) }
    }

    func values() throws -> [Bool] {
        var raw = [Int32](repeating: 0, count: offsets.count)
        try withRequest("reading lines \(offsets) of \(chip.name)") { gb_request_get_values($0, &raw) }
        return raw.map { $0 != 0 }
    }

    func watchEdges(_ sink: EdgeSink) throws {
        // The debouncers start from the levels the lines have now.
        let debounce =
            softwareDebounce
            ? (UInt64(settings.debounceMicroseconds) * 1000, Dictionary(uniqueKeysWithValues: zip(offsets, try values())))
            : nil
        try watcher.withLock { watcher in
            guard watcher == nil else { throw GPIOError.system(operation: "watching edges", errno: EBUSY, message: "the lines are watched already") }
            let started = try handle.withLock { request -> EdgeEventWatcher in
                guard let request else { throw GPIOError.system(operation: "watching edges", errno: EBADF, message: "the lines were released") }
                var fds = [Int32](repeating: -1, count: 64)
                let count = gb_request_event_fds(request, &fds, fds.count)
                guard count > 0 else {
                    throw GPIOError.system(
                        operation: "watching edges", errno: EINVAL,
                        message: "the lines were not requested with edge detection")
                }
                return try EdgeEventWatcher(fds: Array(fds.prefix(count)), debounce: debounce, sink: sink) { fd, buffer in
                    gb_request_read_events(request, fd, buffer.baseAddress, buffer.count)
                }
            }
            watcher = started
        }
    }

    func release() {
        // Stop the watcher first: it reads from the request's descriptors.
        watcher.withLock { watcher in
            watcher?.stop()
            watcher = nil
        }
        handle.withLock { request in
            if let request { gb_request_release(request) }
            request = nil
        }
    }

    private func withRequest(_ operation: String, _ body: (OpaquePointer) -> Int32) throws {
        let result = handle.withLock { request -> Int32 in
            guard let request else {
                errno = EBADF
                return -1
            }
            return body(request)
        }
        guard result >= 0 else {
            let error = errno
            throw GPIOError.system(operation: operation, errno: error, message: String(cString: strerror(error)))
        }
    }
}

private func cString(_ characters: [CChar]) -> String {
    String(decoding: characters.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

private func cString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { bytes in
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}

extension LineBias {
    init(_ shim: Int32) {
        switch UInt32(shim) {
        case GB_BIAS_DISABLED.rawValue: self = .disabled
        case GB_BIAS_PULL_UP.rawValue: self = .pullUp
        case GB_BIAS_PULL_DOWN.rawValue: self = .pullDown
        default: self = .asIs
        }
    }

    var shimValue: Int32 {
        switch self {
        case .asIs: Int32(GB_BIAS_AS_IS.rawValue)
        case .disabled: Int32(GB_BIAS_DISABLED.rawValue)
        case .pullUp: Int32(GB_BIAS_PULL_UP.rawValue)
        case .pullDown: Int32(GB_BIAS_PULL_DOWN.rawValue)
        }
    }
}

extension LineDrive {
    init(_ shim: Int32) {
        switch UInt32(shim) {
        case GB_DRIVE_OPEN_DRAIN.rawValue: self = .openDrain
        case GB_DRIVE_OPEN_SOURCE.rawValue: self = .openSource
        default: self = .pushPull
        }
    }

    var shimValue: Int32 {
        switch self {
        case .pushPull: Int32(GB_DRIVE_PUSH_PULL.rawValue)
        case .openDrain: Int32(GB_DRIVE_OPEN_DRAIN.rawValue)
        case .openSource: Int32(GB_DRIVE_OPEN_SOURCE.rawValue)
        }
    }
}

extension LineEdge {
    var shimValue: Int32 {
        switch self {
        case .none: Int32(GB_EDGE_NONE.rawValue)
        case .rising: Int32(GB_EDGE_RISING.rawValue)
        case .falling: Int32(GB_EDGE_FALLING.rawValue)
        case .both: Int32(GB_EDGE_BOTH.rawValue)
        }
    }
}
