import Hardware
import NIOEmbedded
import Synchronization
import Testing

@testable import Agent

@Suite("Edges from the watching thread to the agent's loop")
struct EdgeMailboxTests {
    @Test("a burst reaches the loop as one task, in order; beyond 4096 waiting, the oldest are dropped and counted")
    func bounded() {
        let loop = EmbeddedEventLoop()
        let deliveries = Mutex<[(offsets: [Int], dropped: Int)]>([])
        let mailbox = EdgeMailbox(loop: loop) { edges, dropped in
            deliveries.withLock { $0.append((edges.map(\.offset), dropped)) }
        }
        for index in 0..<5000 { mailbox.post(EdgeEvent(offset: index, rising: index % 2 == 0, timestampNanoseconds: UInt64(index))) }
        #expect(deliveries.withLock { $0.isEmpty }, "nothing runs before the loop turns")
        loop.run()
        let first = deliveries.withLock { $0 }
        #expect(first.count == 1)
        #expect(first.first?.dropped == 904)
        #expect(first.first?.offsets == Array(904..<5000))
        mailbox.post(EdgeEvent(offset: 7, rising: true, timestampNanoseconds: 0))
        loop.run()
        #expect(deliveries.withLock { $0.last.map { ($0.offsets, $0.dropped) } } ?? ([], -1) == ([7], 0))
    }
}
