import CGPIOShim

#if canImport(Glibc)
import Glibc
#endif

/// Waits for edge events on a thread of its own (poll on the request's descriptors, no polling of
/// values) and hands each to an ``EdgeSink`` on that thread. With a software debounce, the same
/// thread settles each line's ``Debouncer`` when its deadline passes (the poll's timeout).
final class EdgeEventWatcher: @unchecked Sendable {
    typealias Reader = (Int32, UnsafeMutableBufferPointer<gb_edge_event>) -> Int32

    private let sink: EdgeSink
    private let descriptors: [Int32]
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let read: Reader
    private var debouncers: [Int: Debouncer]
    private var thread = pthread_t()

    /// Starts watching `descriptors`; `read` drains one that is readable. With `debounce`, raw
    /// edges go through a software debouncer per line, starting from the given logical levels.
    init(
        fds descriptors: [Int32], debounce: (periodNanoseconds: UInt64, initialLevels: [Int: Bool])? = nil, sink: EdgeSink,
        read: @escaping Reader
    ) throws {
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else {
            let error = errno
            throw GPIOError.system(operation: "creating the edge watcher", errno: error, message: String(cString: strerror(error)))
        }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        self.wakeRead = pipeEnds[0]
        self.wakeWrite = pipeEnds[1]
        self.descriptors = descriptors
        self.read = read
        self.debouncers = (debounce?.initialLevels ?? [:]).mapValues {
            Debouncer(periodNanoseconds: debounce!.periodNanoseconds, initialLevel: $0)
        }
        self.sink = sink
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(
            &thread, nil,
            { context in
                let watcher = Unmanaged<EdgeEventWatcher>.fromOpaque(context!).takeRetainedValue()
                watcher.run()
                return nil
            }, context)
        guard result == 0 else {
            Unmanaged<EdgeEventWatcher>.fromOpaque(context).release()
            close(wakeRead)
            close(wakeWrite)
            throw GPIOError.system(
                operation: "starting the edge watcher thread", errno: result,
                message: String(cString: strerror(result)))
        }
    }

    private func run() {
        var pollSet = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        pollSet.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
        var buffer = [gb_edge_event](repeating: gb_edge_event(), count: 64)
        watching: while true {
            let ready: Int32
            if let deadline = debouncers.values.compactMap(\.deadline).min() {
                // Rounded up to whole milliseconds, so the deadline has passed when poll returns.
                let wait = deadline - min(deadline, monotonicNow())
                ready = poll(&pollSet, nfds_t(pollSet.count), Int32(min((wait + 999_999) / 1_000_000, UInt64(Int32.max))))
            } else {
                ready = poll(&pollSet, nfds_t(pollSet.count), -1)
            }
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if pollSet[pollSet.count - 1].revents != 0 { break }
            for index in 0..<(pollSet.count - 1) where pollSet[index].revents != 0 {
                if pollSet[index].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { break watching }
                let count = buffer.withUnsafeMutableBufferPointer { read(pollSet[index].fd, $0) }
                guard count >= 0 else { break watching }
                for event in buffer.prefix(Int(count)) {
                    let edge = EdgeEvent(offset: Int(event.offset), rising: event.rising != 0, timestampNanoseconds: event.timestamp_ns)
                    if debouncers[edge.offset] == nil {
                        sink.edge(edge)
                    } else {
                        // Kernels before 5.7 stamp v1 events with CLOCK_REALTIME: never wait past now.
                        var bounded = edge
                        bounded.timestampNanoseconds = min(edge.timestampNanoseconds, monotonicNow())
                        _ = debouncers[edge.offset]!.edge(bounded)
                    }
                }
            }
            settleDebouncers()
        }
        sink.ended()
    }

    private func settleDebouncers() {
        guard !debouncers.isEmpty else { return }
        let now = monotonicNow()
        for offset in debouncers.keys.sorted() {
            if let settled = debouncers[offset]!.settle(now: now, offset: offset) { sink.edge(settled) }
        }
    }

    private func monotonicNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// Ends the thread and waits for it; the sink hears the end.
    func stop() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        pthread_join(thread, nil)
        close(wakeRead)
        close(wakeWrite)
    }
}
