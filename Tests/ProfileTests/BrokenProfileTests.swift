import Foundation
import Profile
import Testing

private let brokenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("BrokenProfiles")

private let brokenProfiles =
    (try? FileManager.default.contentsOfDirectory(atPath: brokenDirectory.path))?
    .filter { $0.hasSuffix(".yml") }.sorted() ?? []

/// Each file in BrokenProfiles/ starts with `# expect: LINE:COLUMN: PATH: MESSAGE (fix: HINT)`
/// lines: exactly these issues must be reported, in this order.
@Suite("A corpus of broken profiles, each refused with its exact location and message")
struct BrokenProfileTests {
    @Test("the corpus is there")
    func corpus() {
        #expect(brokenProfiles.count >= 25)
    }

    @Test("refused with the expected issues", arguments: brokenProfiles)
    func refused(name: String) throws {
        let text = try String(contentsOf: brokenDirectory.appendingPathComponent(name), encoding: .utf8)
        let expected = text.split(separator: "\n").filter { $0.hasPrefix("# expect: ") }.map { String($0.dropFirst(10)) }
        do {
            // The files a profile names are checked in ProfileTests.missingFiles, not on this machine.
            let profile = try ProfileLoader.decode(text, file: name, checkingFiles: false)
            Issue.record("\(name) was accepted: \(profile)")
        } catch {
            let reported = error.issues.map { "\($0)" }
            #expect(!expected.isEmpty, "\(name) has no # expect: lines; it reports:\n\(reported.joined(separator: "\n"))")
            #expect(reported == expected.map { "\(name):\($0)" }, "\(name) reports:\n\(reported.joined(separator: "\n"))")
        }
    }
}
