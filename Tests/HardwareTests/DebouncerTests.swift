import Hardware
import Testing

/// Replays raw edges (level, time in ms) through a debouncer, settling at every deadline as a
/// timer would, and returns the debounced edges as (level, time in ms).
private func debounce(_ raw: [(Bool, UInt64)], periodMs: UInt64 = 10, initial: Bool = false) -> [(Bool, UInt64)] {
    var debouncer = Debouncer(periodNanoseconds: periodMs * 1_000_000, initialLevel: initial)
    var out: [(Bool, UInt64)] = []
    var timers: [UInt64] = []
    func runTimers(until time: UInt64) {
        while let next = timers.min(), next <= time {
            timers.removeAll { $0 == next }
            if let event = debouncer.settle(now: next, offset: 0) {
                out.append((event.rising, event.timestampNanoseconds / 1_000_000))
            }
        }
    }
    for (level, ms) in raw {
        runTimers(until: ms * 1_000_000)
        if let deadline = debouncer.edge(EdgeEvent(offset: 0, rising: level, timestampNanoseconds: ms * 1_000_000)) {
            timers.append(deadline)
        }
    }
    runTimers(until: .max)
    return out
}

@Suite("Software debounce with a mock clock")
struct DebouncerTests {
    @Test("a bouncing press settles to one rising edge at its first edge of the stable level")
    func bounce() {
        let result = debounce([(true, 100), (false, 101), (true, 102), (false, 103), (true, 104)])
        #expect(result.map(\.0) == [true])
        #expect(result.map(\.1) == [104])
    }

    @Test("a glitch shorter than the period vanishes")
    func glitch() {
        #expect(debounce([(true, 100), (false, 105)]).isEmpty)
    }

    @Test("a pulse longer than the period gives both edges")
    func pulse() {
        let result = debounce([(true, 100), (false, 130)])
        #expect(result.map(\.0) == [true, false])
        #expect(result.map(\.1) == [100, 130])
    }

    @Test(
        "the final level is never lost, however the bouncing ends",
        arguments: [
            [(true, 0), (false, 1), (true, 2)],
            [(true, 0), (false, 1), (true, 2), (false, 3)],
            [(true, 0), (true, 1), (true, 2)],  // merged raw edges of the same direction
            [(false, 0), (true, 3), (false, 5), (true, 8), (false, 9), (true, 50), (false, 51), (true, 52)],
        ] as [[(Bool, UInt64)]])
    func finalLevel(raw: [(Bool, UInt64)]) {
        let result = debounce(raw)
        let final = result.last?.0 ?? false
        #expect(final == raw.last!.0, "debounced \(result) from \(raw)")
    }

    @Test("edges that only confirm the stable level do nothing")
    func noChange() {
        #expect(debounce([(false, 10), (false, 20)]).isEmpty)
        #expect(debounce([(true, 10)], initial: true).isEmpty)
    }
}
