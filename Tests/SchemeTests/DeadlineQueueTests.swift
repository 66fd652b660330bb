import Scheme
import Testing

private let start = ContinuousClock.now
private func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

@Suite("The next of many named deadlines")
struct DeadlineQueueTests {
    @Test("moved and cleared deadlines are never reported; the earliest live one is, in order")
    func order() {
        var queue = DeadlineQueue()
        #expect(queue.earliest() == nil)
        for index in 0..<200 { queue.set("b\(index)", at(Double(1000 - index))) }
        #expect(queue.earliest()?.key == "b199")
        queue.set("b199", at(2000))
        queue.set("b198", nil)
        #expect(queue.earliest()?.key == "b197")
        // Many moves of one key do not pile up or confuse the order.
        for step in 0..<1000 { queue.set("b0", at(Double(5000 + step))) }
        queue.set("b0", at(1))
        #expect(queue.earliest()?.key == "b0")
        #expect(queue.earliest()?.at == at(1))
        var seen: [String] = []
        for _ in 0..<3 {
            guard let next = queue.earliest() else { break }
            seen.append(next.key)
            queue.set(next.key, nil)
        }
        #expect(seen == ["b0", "b197", "b196"])
    }
}
