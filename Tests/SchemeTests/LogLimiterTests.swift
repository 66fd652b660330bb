import Scheme
import Testing

private let start = ContinuousClock.now
private func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

@Suite("The log limiter: a flood of one warning writes a few lines and a count (mock clock)")
struct LogLimiterTests {
    @Test("a key writes its burst, then counts; the window's end gives the count and a new burst")
    func burstThenCount() {
        var limiter = LogLimiter(burst: 3, window: .seconds(10))
        let written = (0..<20_000).filter { limiter.admit("refused lamp/set", at: at(Double($0) / 10_000)) }
        #expect(written == [0, 1, 2])
        #expect(limiter.nextDeadline == at(10))
        let early = limiter.expire(at: at(9.9))
        #expect(early.isEmpty, "the window is not over")
        let ended = limiter.expire(at: at(10))
        #expect(ended == [LogLimiter.Summary(key: "refused lamp/set", suppressed: 19_997)])
        #expect(limiter.nextDeadline == nil)
        let again = limiter.admit("refused lamp/set", at: at(10.5))
        #expect(again, "a new window writes again")
    }

    @Test("keys are counted apart; a quiet key needs no summary")
    func keysApart() {
        var limiter = LogLimiter(burst: 1, window: .seconds(10))
        let first = [limiter.admit("a", at: at(0)), limiter.admit("a", at: at(1)), limiter.admit("b", at: at(2))]
        #expect(first == [true, false, true])
        #expect(limiter.nextDeadline == at(10), "only a's window held a line back")
        let ended = limiter.expire(at: at(12))
        #expect(ended == [LogLimiter.Summary(key: "a", suppressed: 1)])
        let later = limiter.expire(at: at(100))
        #expect(later.isEmpty)
    }

    @Test("keys beyond the table's size share one, so many keys cannot grow it")
    func boundedKeys() {
        var limiter = LogLimiter(burst: 1, window: .seconds(10), maximumKeys: 4)
        let written = (0..<1000).filter { limiter.admit("board-\($0)", at: at(0)) }
        #expect(written == [0, 1, 2, 3, 4], "four keys, then one line for all the others")
        let ended = limiter.expire(at: at(10))
        #expect(ended == [LogLimiter.Summary(key: LogLimiter.otherKey, suppressed: 995)])
        let again = limiter.admit("board-999", at: at(11))
        #expect(again, "the table emptied with the windows")
    }
}
