/// The next deadline among many boards in O(log n): a binary min-heap of (instant, board) with
/// lazy deletion. A board's deadline moves with nearly every message (a silent board's limit
/// starts again), so scanning every board per message would make the relay's cost grow with the
/// fleet.
struct DeadlineQueue: Sendable {
    private var current: [String: ContinuousClock.Instant] = [:]
    private var heap: [(at: ContinuousClock.Instant, board: String)] = []

    /// `board`'s deadline is now `instant` (nil: none).
    mutating func set(_ board: String, _ instant: ContinuousClock.Instant?) {
        guard current[board] != instant else { return }
        current[board] = instant
        guard let instant else { return }
        heap.append((instant, board))
        siftUp(heap.count - 1)
        // Entries outdated by later ones are dropped when they reach the top; rebuild if they pile up.
        if heap.count > 4 * current.count + 64 {
            heap = current.map { (at: $0.value, board: $0.key) }
            for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
        }
    }

    /// The earliest deadline of any board, and that board.
    mutating func earliest() -> (at: ContinuousClock.Instant, board: String)? {
        while let top = heap.first, current[top.board] != top.at { removeTop() }
        return heap.first
    }

    private mutating func removeTop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].at < heap[parent].at else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].at < heap[smallest].at { smallest = left }
            if right < heap.count, heap[right].at < heap[smallest].at { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
