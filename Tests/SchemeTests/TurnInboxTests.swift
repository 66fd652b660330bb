import Scheme
import Testing

private let origin = ContinuousClock.now
private func at(microseconds: Int) -> ContinuousClock.Instant { origin + .microseconds(microseconds) }

/// Runs `inbox` as a service would: each event of a turn takes `cost`, drains run back to back
/// with `pause` between them, and whatever is handled is recorded in order.
private struct Loop {
    var inbox: TurnInbox<Int>
    var clock = 0
    var handled: [Int] = []
    var drainScheduled = false
    var turnOpen = false
    var pauses = 0
    var resumes = 0
    var paused = false

    init(_ inbox: TurnInbox<Int>) { self.inbox = inbox }

    /// One loop turn: the sockets' `events`, each taking `cost` µs when handled.
    mutating func turn(_ events: [Int], cost: Int) {
        for event in events {
            switch inbox.arrived(event, at: at(microseconds: clock)) {
            case .handle(let startsTurn):
                if startsTurn {
                    #expect(!turnOpen, "a turn starts once")
                    turnOpen = true
                }
                handled.append(event)
                clock += cost
            case .queued(let startDrain, let pauseReading):
                if startDrain {
                    #expect(!drainScheduled, "one drain at a time")
                    drainScheduled = true
                }
                if pauseReading {
                    #expect(!paused)
                    paused = true
                    pauses += 1
                }
            }
        }
        // The loop's tasks run after its sockets: first the end of the turn.
        if turnOpen {
            inbox.turnEnded()
            turnOpen = false
        }
    }

    /// The scheduled drain runs, each event taking `cost` µs.
    mutating func drain(cost: Int) {
        #expect(drainScheduled)
        drainScheduled = false
        let start = at(microseconds: clock)
        while let event = inbox.drain(startedAt: start, now: at(microseconds: clock)) {
            handled.append(event)
            clock += cost
        }
        let after = inbox.drainEnded()
        drainScheduled = after.drainAgain
        if after.resumeReading {
            #expect(paused)
            paused = false
            resumes += 1
        }
    }
}

@Suite("The turn inbox: events handled at once while a turn has time, queued in order past it (mock clock)")
struct TurnInboxTests {
    @Test("a quiet loop handles every event at once, each turn on its own")
    func quietLoopHandlesInline() {
        var loop = Loop(TurnInbox(slice: .milliseconds(1)))
        for index in 0..<100 { loop.turn([index], cost: 30) }
        #expect(loop.handled == Array(0..<100))
        #expect(!loop.drainScheduled)
        #expect(loop.inbox.deepest == 0)
    }

    @Test("past the slice, a turn's events wait; drains work them off in slices, in order, with later arrivals behind them")
    func floodIsSliced() {
        var loop = Loop(TurnInbox(slice: .milliseconds(1)))
        loop.turn(Array(0..<100), cost: 100)
        #expect(loop.handled == Array(0..<10), "10 events of 100 µs fill the 1 ms slice")
        #expect(loop.drainScheduled)
        #expect(loop.inbox.count == 90)
        // A new turn while the backlog waits: its events go behind, even on a quiet loop.
        loop.turn([100, 101], cost: 100)
        #expect(loop.handled.count == 10)
        loop.drain(cost: 100)
        #expect(loop.handled == Array(0..<20), "one slice: 10 more")
        #expect(loop.drainScheduled)
        while loop.drainScheduled { loop.drain(cost: 100) }
        #expect(loop.handled == Array(0..<102))
        #expect(loop.inbox.deepest == 92)
        // Caught up: the next event is handled at once again.
        loop.turn([102], cost: 100)
        #expect(loop.handled.last == 102)
        #expect(!loop.drainScheduled)
    }

    @Test("a drain handles at least one event, however slow")
    func drainAlwaysProgresses() {
        var loop = Loop(TurnInbox(slice: .milliseconds(1)))
        loop.turn([0, 1, 2], cost: 5_000)
        #expect(loop.handled == [0])
        loop.drain(cost: 5_000)
        #expect(loop.handled == [0, 1])
        loop.drain(cost: 5_000)
        #expect(loop.handled == [0, 1, 2])
        #expect(!loop.drainScheduled)
    }

    @Test("a backlog at pauseAt pauses reading once; it resumes at resumeAt, and nothing is lost")
    func backlogPausesReading() {
        var loop = Loop(TurnInbox(slice: .milliseconds(1), pauseAt: 50, resumeAt: 10))
        loop.turn(Array(0..<200), cost: 100)
        #expect(loop.pauses == 1, "paused once though 150 more arrived")
        #expect(loop.paused)
        var drains = 0
        while loop.paused {
            loop.drain(cost: 100)
            drains += 1
            #expect(loop.paused == (loop.inbox.count > 10))
        }
        #expect(drains == 18, "190 waiting, 10 a slice, down to 10")
        #expect(loop.resumes == 1)
        while loop.drainScheduled { loop.drain(cost: 100) }
        #expect(loop.handled == Array(0..<200))
        // A second flood pauses again.
        loop.turn(Array(200..<300), cost: 100)
        #expect(loop.pauses == 2)
    }

    @Test("removeAll drops what waits; the next event starts afresh")
    func removeAll() {
        var inbox = TurnInbox<Int>(slice: .milliseconds(1))
        var queued = 0
        for index in 0..<5 {
            if case .queued = inbox.arrived(index, at: at(microseconds: 2_000 * index)) { queued += 1 }
        }
        #expect(queued == 4)
        inbox.removeAll()
        #expect(inbox.count == 0)
        guard case .handle(let startsTurn) = inbox.arrived(9, at: at(microseconds: 20_000)) else {
            Issue.record("handled at once after removeAll")
            return
        }
        #expect(startsTurn)
    }
}
