/// Finds the owners of a topic among many topic filters in time proportional to the topic's
/// levels, not to the number of filters: a thousand boards each watch a few filters, and every
/// message must find its board. A trie by topic level, with `+` and `#` children.
public struct TopicRouter<Owner: Hashable & Sendable>: Sendable {
    private final class Node: @unchecked Sendable {
        /// The next levels by name; `+` has a slot of its own, looked at on every level.
        var children: [Substring: Node] = [:]
        var anyLevel: Node?
        var owners: Set<Owner> = []
        var multiLevelOwners: Set<Owner> = []

        var isEmpty: Bool { owners.isEmpty && multiLevelOwners.isEmpty && children.isEmpty && anyLevel == nil }

        func copy() -> Node {
            let new = Node()
            new.owners = owners
            new.multiLevelOwners = multiLevelOwners
            new.children = children.mapValues { $0.copy() }
            new.anyLevel = anyLevel?.copy()
            return new
        }
    }

    // The trie is rebuilt, never shared while mutated: copies are made by `copyOnWrite`.
    private var root = Node()

    /// A router with no filters.
    public init() {}

    /// `owner` receives the topics `filter` matches.
    public mutating func add(_ filter: String, owner: Owner) {
        copyOnWrite()
        var node = root
        for level in filter.split(separator: "/", omittingEmptySubsequences: false) {
            switch level {
            case "#":
                node.multiLevelOwners.insert(owner)
                return
            case "+":
                let next = node.anyLevel ?? Node()
                node.anyLevel = next
                node = next
            default:
                let next = node.children[level] ?? Node()
                node.children[level] = next
                node = next
            }
        }
        node.owners.insert(owner)
    }

    /// Forgets every filter of `owner`.
    public mutating func remove(_ owner: Owner) {
        copyOnWrite()
        func prune(_ node: Node) {
            node.owners.remove(owner)
            node.multiLevelOwners.remove(owner)
            for (level, child) in node.children {
                prune(child)
                if child.isEmpty { node.children[level] = nil }
            }
            if let child = node.anyLevel {
                prune(child)
                if child.isEmpty { node.anyLevel = nil }
            }
        }
        prune(root)
    }

    /// The owners of the filters that match `topic`, each once, in no set order. Filters starting
    /// with a wildcard do not match topics starting with `$` [MQTT-4.7.2-1].
    public func owners(of topic: String) -> [Owner] {
        var found: [Owner] = []
        Self.collect(root, remaining: topic[...], wildcards: !topic.hasPrefix("$"), into: &found)
        return found
    }

    /// Adds the owners under `node` of the filters matching `remaining`, the topic's levels not
    /// yet walked (nil once all are). Walks the topic in place: nothing is split or allocated.
    private static func collect(_ node: Node, remaining: Substring?, wildcards: Bool, into found: inout [Owner]) {
        if wildcards { insert(node.multiLevelOwners, into: &found) }
        guard let remaining else {
            insert(node.owners, into: &found)
            return
        }
        let level: Substring
        let rest: Substring?
        if let slash = remaining.utf8.firstIndex(of: UInt8(ascii: "/")) {
            level = remaining[..<slash]
            rest = remaining[remaining.utf8.index(after: slash)...]
        } else {
            level = remaining
            rest = nil
        }
        if let child = node.children[level] { collect(child, remaining: rest, wildcards: true, into: &found) }
        if wildcards, let child = node.anyLevel { collect(child, remaining: rest, wildcards: true, into: &found) }
    }

    /// A topic has a handful of owners at most: a linear check beats hashing into a set.
    private static func insert(_ owners: Set<Owner>, into found: inout [Owner]) {
        for owner in owners where !found.contains(owner) { found.append(owner) }
    }

    private mutating func copyOnWrite() {
        guard !isKnownUniquelyReferenced(&root) else { return }
        root = root.copy()
    }
}
