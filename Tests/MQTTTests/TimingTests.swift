import NIOCore
import Testing

@testable import MQTT
@testable import MQTTCore

/// A mock clock: deadlines are plain numbers of milliseconds.
private func at(_ milliseconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(milliseconds) * 1_000_000) }

@Suite("Keep alive with a mock clock")
struct KeepAliveTests {
    @Test("an idle connection pings after half the keep alive and times out one keep alive after the last packet")
    func idle() {
        var monitor = KeepAliveMonitor(interval: .seconds(10), now: at(0))
        let first = monitor.evaluate(now: at(1_000))
        #expect(first.action == nil)
        #expect(first.next == at(5_000))
        let ping = monitor.evaluate(now: at(5_000))
        #expect(ping.action == .sendPing)
        #expect(ping.next == at(10_000))
        #expect(monitor.evaluate(now: at(9_999)).action == nil)
        #expect(monitor.evaluate(now: at(10_000)).action == .timedOut(silence: .seconds(10)))
    }

    @Test("a PINGRESP keeps the connection alive")
    func answered() {
        var monitor = KeepAliveMonitor(interval: .seconds(10), now: at(0))
        #expect(monitor.evaluate(now: at(5_000)).action == .sendPing)
        monitor.packetReceived(at: at(5_010))
        let after = monitor.evaluate(now: at(10_000))
        #expect(after.action == nil)
        #expect(after.next == at(10_010))
    }

    @Test("a broker that goes silent is detected within 1.5 × keep alive, however the silence lines up", arguments: [0, 1, 2_499, 4_999, 7_777])
    func detectionBound(lastPacketAt: Int64) {
        let interval: Int64 = 10_000
        var monitor = KeepAliveMonitor(interval: .milliseconds(interval), now: at(0))
        var now: Int64 = 0
        // Traffic until the broker freezes at `lastPacketAt`, then nothing comes back.
        monitor.packetReceived(at: at(lastPacketAt))
        var detectedAt: Int64?
        while detectedAt == nil && now < 10 * interval {
            let (action, next) = monitor.evaluate(now: at(now))
            if case .timedOut = action { detectedAt = now }
            now = Int64(next.uptimeNanoseconds / 1_000_000)
        }
        #expect(detectedAt != nil)
        #expect(detectedAt! - lastPacketAt <= interval * 3 / 2)
    }

    @Test("publishing QoS 0 while the broker is silent still probes it")
    func sendingButNotReceiving() {
        var monitor = KeepAliveMonitor(interval: .seconds(10), now: at(0))
        for time in stride(from: 100, to: 5_000, by: 100) { monitor.packetSent(at: at(Int64(time))) }
        #expect(monitor.evaluate(now: at(5_000)).action == .sendPing)
    }

    @Test("receiving without sending pings when our side is quiet for three quarters of the interval [MQTT-3.1.2-20]")
    func receivingButNotSending() {
        var monitor = KeepAliveMonitor(interval: .seconds(10), now: at(0))
        for time in stride(from: 1_000, through: 7_000, by: 1_000) {
            monitor.packetReceived(at: at(Int64(time)))
            #expect(monitor.evaluate(now: at(Int64(time))).action == nil)
        }
        monitor.packetReceived(at: at(7_500))
        #expect(monitor.evaluate(now: at(7_500)).action == .sendPing)
    }

    @Test("a late check still gives the broker half an interval to answer")
    func lateEvaluation() {
        var monitor = KeepAliveMonitor(interval: .seconds(10), now: at(0))
        let ping = monitor.evaluate(now: at(30_000))
        #expect(ping.action == .sendPing)
        #expect(ping.next == at(35_000))
        #expect(monitor.evaluate(now: at(34_999)).action == nil)
        #expect(monitor.evaluate(now: at(35_000)).action == .timedOut(silence: .seconds(35)))
    }
}

/// Deterministic numbers for jitter tests.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Reconnect backoff")
struct ReconnectBackoffTests {
    @Test("the ceiling doubles from the initial delay up to the cap")
    func ceilings() {
        let backoff = ReconnectBackoff(initial: .milliseconds(500), maximum: .seconds(30))
        let ceilings = (0..<10).map { backoff.ceilingDelay(forAttempt: $0) }
        #expect(
            ceilings == [
                .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16),
                .seconds(30), .seconds(30), .seconds(30), .seconds(30),
            ])
        #expect(backoff.ceilingDelay(forAttempt: 10_000) == .seconds(30))
    }

    @Test("each delay lies in [ceiling/2, ceiling], the delays differ, and reset starts over")
    func jitter() {
        var generator = SplitMix64(state: 42)
        var backoff = ReconnectBackoff(initial: .seconds(1), maximum: .seconds(8))
        var delays: [Duration] = []
        for attempt in 0..<50 {
            let ceiling = backoff.ceilingDelay(forAttempt: attempt)
            let delay = backoff.nextDelay(using: &generator)
            #expect(delay >= ceiling / 2 && delay <= ceiling)
            delays.append(delay)
        }
        #expect(Set(delays.suffix(20)).count > 1, "jitter must spread the capped delays")
        backoff.reset()
        #expect(backoff.nextDelay(using: &generator) <= .seconds(1))
    }
}

@Suite("Reconnect schedule: by what went wrong")
struct ReconnectScheduleTests {
    @Test("a connection that worked is retried at once; one dropped soon after CONNACK backs off on its own track")
    func lost() {
        var generator = SplitMix64(state: 7)
        var schedule = ReconnectSchedule(initial: .milliseconds(100), maximum: .seconds(2))
        #expect(schedule.delayAfterLosing(connectionThatLasted: .seconds(8), using: &generator) == .zero)
        #expect(schedule.delayAfterLosing(connectionThatLasted: ReconnectSchedule.stableConnection, using: &generator) == .zero)
        var dropped: [Duration] = []
        for _ in 0..<8 {
            schedule.connected()  // CONNACK each time, and each time dropped at once (an ACL, a takeover)
            dropped.append(schedule.delayAfterLosing(connectionThatLasted: .milliseconds(200), using: &generator))
        }
        #expect(dropped[0] >= .milliseconds(500) && dropped[0] <= .seconds(1), "the slow track starts at 1 s")
        #expect(dropped.last! >= .seconds(30) && dropped.last! <= .seconds(60), "and grows to its cap, CONNACK or not")
        #expect(schedule.delayAfterLosing(connectionThatLasted: .seconds(6), using: &generator) == .zero)
        #expect(
            schedule.delayAfterLosing(connectionThatLasted: .milliseconds(200), using: &generator) <= .seconds(1),
            "a connection that lasted starts the dropped track over")
    }

    @Test("an unreachable broker is retried within the configured bounds; CONNACK starts over")
    func unreachable() {
        var generator = SplitMix64(state: 9)
        var schedule = ReconnectSchedule(initial: .milliseconds(100), maximum: .seconds(2))
        let delays = (0..<10).map { _ in schedule.delayAfterFailing(refused: false, using: &generator) }
        #expect(delays[0] >= .milliseconds(50) && delays[0] <= .milliseconds(100))
        #expect(delays.allSatisfy { $0 <= .seconds(2) }, "never above the maximum: back within 2 s of the broker's return")
        #expect(delays.suffix(4).allSatisfy { $0 >= .seconds(1) })
        schedule.connected()
        #expect(schedule.delayAfterFailing(refused: false, using: &generator) <= .milliseconds(100))
    }

    @Test("a broker that refuses is backed off slowly, and apart from one that cannot be reached")
    func refused() {
        var generator = SplitMix64(state: 11)
        var schedule = ReconnectSchedule(initial: .milliseconds(100), maximum: .seconds(2))
        let first = schedule.delayAfterFailing(refused: true, using: &generator)
        #expect(first >= .milliseconds(500) && first <= .seconds(1))
        for _ in 0..<10 { _ = schedule.delayAfterFailing(refused: false, using: &generator) }
        let second = schedule.delayAfterFailing(refused: true, using: &generator)
        #expect(second >= .seconds(1) && second <= .seconds(2), "unreachable attempts did not advance the refused track")
        for _ in 0..<10 { _ = schedule.delayAfterFailing(refused: true, using: &generator) }
        let capped = schedule.delayAfterFailing(refused: true, using: &generator)
        #expect(capped >= .seconds(30) && capped <= .seconds(60))
        schedule.connected()
        #expect(schedule.delayAfterFailing(refused: true, using: &generator) <= .seconds(1))
    }
}

@Suite("Durations for people")
struct DurationWordingTests {
    @Test(
        "rounded to the hundredth, trailing zeros dropped",
        arguments: [
            (Duration.seconds(2), "2 s"), (.nanoseconds(2_000_211_142), "2 s"), (.milliseconds(286), "0.29 s"),
            (.milliseconds(1_500), "1.5 s"), (.milliseconds(45_004), "45 s"), (.milliseconds(5), "0.01 s"), (.zero, "0 s"),
        ])
    func wording(duration: Duration, expected: String) {
        #expect(duration.formattedSeconds == expected)
    }
}

@Suite("The takeover detector: closes followed by prompt reconnects (mock clock)")
struct TakeoverDetectorTests {
    private let start = ContinuousClock.now
    private func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

    @Test("three closes each followed by an accepted reconnect within a minute: warn once, then count afresh")
    func takeover() {
        var detector = TakeoverDetector()
        #expect(detector.connectionAttempt(accepted: true, at: at(0)) == nil, "the first connect follows no close")
        var warnings: [Int?] = []
        for round in 1...4 {
            detector.brokerClosedConnection(at: at(Double(round * 10)))
            warnings.append(detector.connectionAttempt(accepted: true, at: at(Double(round * 10) + 0.5)))
        }
        #expect(warnings == [nil, nil, 3, nil])
    }

    @Test("a restart is not a takeover: the broker refuses connections between the close and the next accepted one")
    func restart() {
        var detector = TakeoverDetector()
        var warnings: [Int?] = []
        for round in 1...5 {
            detector.brokerClosedConnection(at: at(Double(round * 10)))
            _ = detector.connectionAttempt(accepted: false, at: at(Double(round * 10) + 0.1))
            warnings.append(detector.connectionAttempt(accepted: true, at: at(Double(round * 10) + 1)))
        }
        #expect(warnings.allSatisfy { $0 == nil })
    }

    @Test("closes spread beyond the window, or reconnects that came late, do not warn")
    func spreadOut() {
        var detector = TakeoverDetector()
        var warnings: [Int?] = []
        for round in 1...5 {
            detector.brokerClosedConnection(at: at(Double(round * 40)))
            warnings.append(detector.connectionAttempt(accepted: true, at: at(Double(round * 40) + 1)))
        }
        for round in 1...5 {
            detector.brokerClosedConnection(at: at(1000 + Double(round * 10)))
            warnings.append(detector.connectionAttempt(accepted: true, at: at(1000 + Double(round * 10) + 6)))
        }
        #expect(warnings.allSatisfy { $0 == nil })
    }
}
