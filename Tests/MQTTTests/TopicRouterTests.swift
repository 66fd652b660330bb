import MQTTCore
import Testing

@Suite("Topic routing among many boards")
struct TopicRouterTests {
    @Test("exact, + and # filters find their owners; $ topics escape wildcards; removal forgets an owner")
    func routing() {
        var router = TopicRouter<String>()
        router.add("stat/kitchen/+", owner: "kitchen")
        router.add("tele/kitchen/LWT", owner: "kitchen")
        router.add("porch/#", owner: "porch")
        router.add("+/status", owner: "any")
        #expect(Set(router.owners(of: "stat/kitchen/RESULT")) == ["kitchen"])
        #expect(Set(router.owners(of: "stat/kitchen")) == [])
        #expect(Set(router.owners(of: "porch")) == ["porch"], "# also matches its parent level")
        #expect(Set(router.owners(of: "porch/status")) == ["porch", "any"])
        router.add("porch/+", owner: "porch")
        #expect(router.owners(of: "porch/status").count == 2, "an owner matched by two of its filters is named once")
        #expect(Set(router.owners(of: "$SYS/status")) == [])
        let copy = router
        router.remove("kitchen")
        #expect(Set(router.owners(of: "tele/kitchen/LWT")) == [])
        #expect(Set(copy.owners(of: "tele/kitchen/LWT")) == ["kitchen"], "a copy is not changed by its original")
    }

    @Test("the router agrees with TopicFilter.matches on every pair of generated filters and topics, empty levels included")
    func agreesWithFilterMatching() {
        let levels = ["a", "b", "", "$SYS"]
        var topics: [String] = []
        func grow(_ prefix: [String], depth: Int) {
            if prefix.count > 1 || prefix.first?.isEmpty == false { topics.append(prefix.joined(separator: "/")) }
            guard depth > 0 else { return }
            for level in levels where level != "$SYS" || prefix.isEmpty { grow(prefix + [level], depth: depth - 1) }
        }
        grow([], depth: 3)
        var filters = topics
        for topic in topics {
            let parts = topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            for index in parts.indices {
                var plus = parts
                plus[index] = "+"
                filters.append(plus.joined(separator: "/"))
                filters.append((parts[..<index] + ["#"]).joined(separator: "/"))
            }
        }
        filters = Array(Set(filters)).sorted()
        var router = TopicRouter<String>()
        for filter in filters { router.add(filter, owner: filter) }
        // Removing half the filters must leave exactly the other half.
        let removed = Set(filters.enumerated().filter { $0.offset.isMultiple(of: 2) }.map(\.element))
        var pruned = router
        for filter in removed { pruned.remove(filter) }
        for topic in topics {
            let expected = Set(filters.filter { TopicFilter($0)!.matches(topic) })
            #expect(Set(router.owners(of: topic)) == expected, "topic \"\(topic)\"")
            #expect(router.owners(of: topic).count == expected.count, "each owner once for \"\(topic)\"")
            #expect(Set(pruned.owners(of: topic)) == expected.subtracting(removed), "topic \"\(topic)\" after removals")
        }
        #expect(topics.count > 50 && filters.count > 100)
    }
}
