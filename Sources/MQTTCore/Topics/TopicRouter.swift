/// Finds the owners of a topic among many topic filters in time proportional to the topic's
/// levels, not to the number of filters: a thousand boards each watch a few filters, and every
/// message must find its board. A trie by topic level, with `+` and `#` children.
public struct TopicRouter<Owner: Hashable & Sendable>: Sendable {
    private final class Node: @unchecked Sendable {
        var children: [Substring: Node] = [:]
        var owners: Set<Owner> = []
        var multiLevelOwners: Set<Owner> = []
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
            if level == "#" {
                node.multiLevelOwners.insert(owner)
                return
            }
            if let next = node.children[level] {
                node = next
            } else {
                let next = Node()
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
                if child.owners.isEmpty && child.multiLevelOwners.isEmpty && child.children.isEmpty { node.children[level] = nil }
            }
        }
        prune(root)
    }

    /// The owners of the filters that match `topic`. Filters starting with a wildcard do not
    /// match topics starting with `$` [MQTT-4.7.2-1].
    public func owners(of topic: String) -> Set<Owner> {
        var found: Set<Owner> = []
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        func walk(_ node: Node, _ index: Int) {
            let wildcardsAllowed = !(index == 0 && topic.hasPrefix("$"))
            if wildcardsAllowed { found.formUnion(node.multiLevelOwners) }
            guard index < levels.count else {
                found.formUnion(node.owners)
                return
            }
            if let child = node.children[levels[index]] { walk(child, index + 1) }
            if wildcardsAllowed, let child = node.children["+"] { walk(child, index + 1) }
        }
        walk(root, 0)
        return found
    }

    private mutating func copyOnWrite() {
        guard !isKnownUniquelyReferenced(&root) else { return }
        func copy(_ node: Node) -> Node {
            let new = Node()
            new.owners = node.owners
            new.multiLevelOwners = node.multiLevelOwners
            new.children = node.children.mapValues(copy)
            return new
        }
        root = copy(root)
    }
}
