import Profile
import Testing

/// Hostile or broken files end in a located error, never a crash, and loading stays linear.
@Suite("Profile bounds: size, nesting and alias expansion")
struct ProfileBoundsTests {
    private func issues(_ text: String) -> [String] {
        do {
            _ = try ProfileLoader.decode(text, file: "hostile.yml")
            return []
        } catch {
            return error.issues.map { "\($0)" }
        }
    }

    @Test("40,000 '[' (an 80 KB file) is refused where it goes past 64 levels")
    func openBrackets() {
        #expect(issues(String(repeating: "[", count: 40_000)) == ["hostile.yml:1:65: YAML: mappings and lists are nested deeper than 64 levels"])
    }

    @Test("'{a:' nested 50,000 deep is refused where it goes past 64 levels")
    func nestedMappings() {
        #expect(issues(String(repeating: "{a: ", count: 50_000)) == ["hostile.yml:1:257: YAML: mappings and lists are nested deeper than 64 levels"])
    }

    @Test("a file over 1 MiB is refused before it is parsed")
    func oversized() {
        let text = "device: {id: big}\n# " + String(repeating: "x", count: YAMLLimits.maximumBytes) + "\n"
        #expect(issues(text) == ["hostile.yml:1:1: YAML: the file is over 1024 KiB; a profile is a few KiB"])
    }

    @Test("a profile at the bounds still loads: 64 levels, and 20,000 subscriptions")
    func atTheBounds() throws {
        let nested = String(repeating: "[", count: 61) + "x" + String(repeating: "]", count: 61)
        let deep = "device: {id: deep}\noutputs: [{name: lamp, line: GPIO17}]\nlabels: {a: \(nested)}\n"
        #expect(issues(deep).allSatisfy { !$0.contains("nested deeper") }, "\(issues(deep))")
        var text = "device: {id: many}\noutputs: [{name: lamp, line: GPIO17}]\nsubscriptions:\n"
        for index in 0..<20_000 { text += "  - {topic: \"t/\(index)\"}\n" }
        let profile = try ProfileLoader.decode(text, file: "many.yml")
        #expect(profile.subscriptions.count == 20_000)
    }
}
