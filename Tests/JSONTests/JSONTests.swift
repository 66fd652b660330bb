import JSON
import Testing

/// The JSON parser reads every command and every Tasmota and ESPHome announcement: RFC 8259's
/// valid and invalid texts, and our answers where the RFC leaves the choice to the reader.
@Suite("JSON: RFC 8259, and the limits it leaves to us")
struct JSONTests {
    @Test(
        "valid texts parse to the values they write",
        arguments: [
            ("true", JSONValue.bool(true)), ("false", .bool(false)), ("null", .null),
            (" \t\r\n 0 \n", .number(0)), ("-0", .number(-0.0)), ("1.5e3", .number(1500)), ("1E-2", .number(0.01)),
            ("-12.25", .number(-12.25)), (#""""#, .string("")),
            (#""a\"b\\c\/d\b\f\n\r\t""#, .string("a\"b\\c/d\u{08}\u{0C}\n\r\t")),
            (#""\u00e9\u20AC""#, .string("é€")), (#""\ud83d\ude00""#, .string("😀")), (#""é😀""#, .string("é😀")),
            ("[]", .array([])), ("{}", .object([])), (#"[1, [2, [3]]]"#, .array([.number(1), .array([.number(2), .array([.number(3)])])])),
            (#"{"state":"ON","pulse_ms":500}"#, .object(["state": .string("ON"), "pulse_ms": .number(500)])),
        ])
    func valid(text: String, value: JSONValue) throws {
        #expect(try JSONValue(parsing: text) == value)
    }

    @Test(
        "invalid texts are refused with where",
        arguments: [
            ("", "the JSON ends early at byte 1"),
            ("01", "unexpected text after the JSON value at byte 2"),
            ("+1", #"unexpected character "+" at byte 1"#),
            (".5", #"unexpected character "." at byte 1"#),
            ("1.", "expected a digit after . at byte 3"),
            ("1e", "expected a digit in the exponent at byte 3"),
            ("tru", "expected true at byte 1"),
            ("NaN", #"unexpected character "N" at byte 1"#),
            ("[1,]", #"unexpected character "]" at byte 4"#),
            (#"{"a":1,}"#, "expected a quoted key at byte 8"),
            ("{a:1}", "expected a quoted key at byte 2"),
            ("['a']", #"unexpected character "'" at byte 2"#),
            ("[1 2]", "expected , or ] in an array at byte 4"),
            ("\"a\nb\"", "a control character inside a string at byte 3"),
            (#""\x""#, "an unknown escape at byte 4"),
            (#""\u12""#, "expected four hex digits after \\u at byte 4"),
            (#""\u+041""#, "expected four hex digits after \\u at byte 4"),
            (#""abc"#, "the string is not closed at byte 5"),
            ("1 2", "unexpected text after the JSON value at byte 3"),
        ])
    func invalid(text: String, message: String) {
        #expect(throws: JSONError.self) { try JSONValue(parsing: text) }
        do {
            _ = try JSONValue(parsing: text)
        } catch {
            #expect(error.description == message, "for \(text)")
        }
    }

    @Test("where the RFC leaves the choice: surrogates, number range, depth and repeated keys")
    func implementationDefined() throws {
        // A lone or reversed surrogate is no character: refused.
        #expect(throws: JSONError.self) { try JSONValue(parsing: #""\ud800""#) }
        #expect(throws: JSONError.self) { try JSONValue(parsing: #""\udc00\ud800""#) }
        #expect(throws: JSONError.self) { try JSONValue(parsing: #""\ud800\u0041""#) }
        // Numbers are doubles: beyond their range is refused, not infinity; precision is a double's.
        #expect(throws: JSONError.self) { try JSONValue(parsing: "1e400") }
        #expect(throws: JSONError.self) { try JSONValue(parsing: "-1e400") }
        #expect(try JSONValue(parsing: "1e-400") == .number(0))
        #expect(try JSONValue(parsing: "9007199254740993") == .number(9_007_199_254_740_992))
        // 64 levels are read; the 65th is refused, so no message can exhaust the stack.
        #expect(try JSONValue(parsing: String(repeating: "[", count: 64) + String(repeating: "]", count: 64)) != .null)
        do {
            _ = try JSONValue(parsing: String(repeating: "[", count: 100_000))
            Issue.record("100,000 levels were accepted")
        } catch {
            #expect(error.description == "nested more than 64 levels deep at byte 65")
        }
        // A repeated key is refused: readers that keep the first and readers that keep the last would differ.
        do {
            _ = try JSONValue(parsing: #"{"state":"OFF","pulse_ms":5,"state":"ON"}"#)
            Issue.record("a repeated key was accepted")
        } catch {
            #expect(error.description == #"the key "state" appears twice at byte 29"#)
        }
    }

    @Test("serialized text parses back to the same value")
    func roundTrip() throws {
        let value = JSONValue.object([
            "text": .string("line\nquote\" tab\t é 😀 \u{01}"), "list": .array([.number(-1.5), .bool(true), .null]),
            "nested": .object(["empty": .object([])]),
        ])
        #expect(try JSONValue(parsing: value.serialized) == value)
    }

    @Test("excerpts of untrusted text: at most 64 bytes, whole characters, escaped, with the size when cut")
    func excerpts() {
        #expect(quotedExcerpt("ON") == #""ON""#)
        #expect(quotedExcerpt("a\nb") == #""a\nb""#)
        #expect(quotedExcerpt(String(repeating: "x", count: 1000)) == "\"" + String(repeating: "x", count: 64) + "\"... (1000 bytes)")
        // 63 bytes, then a two-byte character across the limit: it is left out whole.
        let text = String(repeating: "x", count: 63) + "é" + "tail"
        #expect(leadingBytes(of: text) == String(repeating: "x", count: 63))
        #expect(quotedExcerpt(text).hasSuffix("... (69 bytes)"))
    }
}
