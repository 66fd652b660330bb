/// The next of many named deadlines in O(log n): a binary min-heap of (instant, key) with lazy
/// deletion, on the caller's clock. The relay's and the agent's cores keep every timer here. A
/// board's deadline moves with nearly every message (a silent board's limit starts again), so
/// scanning every board per message would make the relay's cost grow with the fleet.
public struct DeadlineQueue: Sendable {
    private var current: [String: ContinuousClock.Instant] = [:]
    private var heap: [(at: ContinuousClock.Instant, key: String)] = []

    /// `key`'s deadline is now `instant` (nil: none).
    public mutating func set(_ key: String, _ instant: ContinuousClock.Instant?) {
        guard current[key] != instant else { return }
        current[key] = instant
        guard let instant else { return }
        heap.append((instant, key))
        siftUp(heap.count - 1)
        // Entries outdated by later ones are dropped when they reach the top; rebuild if they pile up.
        if heap.count > 4 * current.count + 64 {
            heap = current.map { (at: $0.value, key: $0.key) }
            for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
        }
    }

    /// The earliest deadline of any key, and that key.
    public mutating func earliest() -> (at: ContinuousClock.Instant, key: String)? {
        while let top = heap.first, current[top.key] != top.at { removeTop() }
        return heap.first
    }

    /// No deadlines.
    public init() {}

    /// `key`'s deadline, if it has one.
    public func deadline(of key: String) -> ContinuousClock.Instant? { current[key] }

    private mutating func removeTop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
    }

    /// Earlier first; deadlines at one instant in the order of their keys, so that what fires
    /// together fires in the same order every time.
    private static func precedes(_ a: (at: ContinuousClock.Instant, key: String), _ b: (at: ContinuousClock.Instant, key: String)) -> Bool {
        a.at < b.at || (a.at == b.at && a.key < b.key)
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.precedes(heap[child], heap[parent]) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, Self.precedes(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count, Self.precedes(heap[right], heap[smallest]) { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
