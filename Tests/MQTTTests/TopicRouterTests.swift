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
        #expect(router.owners(of: "stat/kitchen/RESULT") == ["kitchen"])
        #expect(router.owners(of: "stat/kitchen") == [])
        #expect(router.owners(of: "porch") == ["porch"], "# also matches its parent level")
        #expect(router.owners(of: "porch/status") == ["porch", "any"])
        #expect(router.owners(of: "$SYS/status") == [])
        let copy = router
        router.remove("kitchen")
        #expect(router.owners(of: "tele/kitchen/LWT") == [])
        #expect(copy.owners(of: "tele/kitchen/LWT") == ["kitchen"], "a copy is not changed by its original")
    }
}
