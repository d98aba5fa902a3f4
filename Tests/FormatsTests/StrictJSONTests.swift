import Formats
import Foundation
import XCTest

/// The one JSON parser every reader goes through: RFC 8259 strict, bounded, located errors.
final class StrictJSONTests: XCTestCase {
    func parseError(_ text: String) -> String? {
        do {
            _ = try JSONNode.parse(Array(text.utf8), file: "doc.json")
            return nil
        } catch {
            return error.description
        }
    }

    func testInvalidDocumentsAreRefusedWithLineAndColumn() {
        let cases: [(String, String)] = [
            (#"{"a": 1, "a": 2}"#, #"duplicate key "a""#),
            ("{\"a\": 1,\n \"b\": 2,\n}", "line 3, column 1"),
            (#"[1, 2,]"#, "unexpected character ']'"),
            (#"{"a": 1} // note"#, "unexpected text after the JSON value"),
            (#"{"a": NaN}"#, "unexpected character 'N'"),
            (#"{"a": Infinity}"#, "unexpected character 'I'"),
            (#"{"a": -Infinity}"#, "invalid number"),
            (#"{'a': 1}"#, "expected a string key"),
            (#"{"a": 01}"#, "leading zeros"),
            ("{\"a\": \"\u{1}\"}", "unescaped control character"),
            (#"{"a": "\ud800"}"#, "unpaired surrogate"),
            ("", "unexpected end of input"),
        ]
        for (text, expected) in cases {
            let message = parseError(text)
            XCTAssertNotNil(message, "accepted: \(text)")
            XCTAssertTrue(message?.contains(expected) == true, "\(text): \(message ?? "")")
            XCTAssertTrue(message?.hasPrefix("doc.json: ") == true, "\(text): \(message ?? "")")
        }
        XCTAssertTrue(parseError("{\n  \"a\": 1,\n  \"a\": 2\n}")?.contains("line 3, column 3") == true)
    }

    func testDeepNestingIsAnErrorNotAStackOverflow() {
        let deep = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
        XCTAssertTrue(parseError(deep)?.contains("nested more than 256 levels deep") == true)
        let objects = String(repeating: #"{"a":"#, count: 100_000) + "1" + String(repeating: "}", count: 100_000)
        XCTAssertTrue(parseError(objects)?.contains("nested more than") == true)
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        XCTAssertNil(parseError(fine))
    }

    func testIntegersThatDoNotFitAreReportedNotTrapped() throws {
        let root = try JSONNode.parse(Array(#"{"big": 123456789012345678901234567890, "max": 9223372036854775807, "neg": -9223372036854775809}"#.utf8),
                                      file: "doc.json").object()
        XCTAssertEqual(try root.integer("max"), Int.max)
        for key in ["big", "neg"] {
            XCTAssertThrowsError(try root.integer(key)) { error in
                XCTAssertTrue("\(error)".contains("doc.json: '\(key)': the integer"), "\(error)")
                XCTAssertTrue("\(error)".contains("does not fit in 64 bits"), "\(error)")
            }
        }
        // A number too large for a Double is infinite: it parses, and every reader range-checks it.
        let huge = try JSONNode.parse(Array("[1e999]".utf8), file: "doc.json").array()[0].double()
        XCTAssertFalse(huge.isFinite)
    }

    struct Sample: Decodable, Equatable {
        var name: String
        var sizes: [Int]
    }

    func testTypedDecodingIsStrictAndNamesTheFileAndKey() throws {
        XCTAssertEqual(try StrictJSON.decode(Sample.self, from: Array(#"{"name": "a", "sizes": [1, 2]}"#.utf8), file: "s.json"),
                       Sample(name: "a", sizes: [1, 2]))
        let cases: [(String, String)] = [
            (#"{"name": "a", "name": "b", "sizes": []}"#, #"s.json: is not valid JSON (invalid JSON at line 1, column 15 (byte 14): duplicate key "name")"#),
            (#"{"name": "a", "sizes": [1, 2,]}"#, "s.json: is not valid JSON"),
            (#"{"name": "a", "sizes": [1, "2"]}"#, "s.json: 'sizes[1]': has the wrong type"),
            (#"{"sizes": [1]}"#, "s.json: missing required key 'name'"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try StrictJSON.decode(Sample.self, from: Array(text.utf8), file: "s.json")) { error in
                XCTAssertTrue("\(error)".hasPrefix(expected), "\(text): \(error)")
            }
        }
        XCTAssertThrowsError(try StrictJSON.decode(Sample.self, path: "/nonexistent/s.json")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/s.json: cannot open: No such file or directory"), "\(error)")
        }
    }
}
