import Foundation
import Formats
import XCTest

/// Every Unicode scalar against tables made by tokenizers' own engines (the regex classes of
/// Oniguruma, the NFC of its normalization tables), so that a Swift with another Unicode version
/// cannot change ids unnoticed.
final class TokenizersUnicodeTests: XCTestCase {
    private struct Tables: Decodable {
        let letter: [[UInt32]]
        let number: [[UInt32]]
        let whitespace: [[UInt32]]
        /// [scalar, NFC(c), NFC("q" c U+0301), NFC("q" U+0301 c)] for each scalar where one of those changes.
        let nfc_changed: [NFCChange]
    }

    private struct NFCChange: Decodable {
        let scalar: UInt32
        let outputs: [String]

        init(from decoder: any Decoder) throws {
            var entry = try decoder.unkeyedContainer()
            scalar = try entry.decode(UInt32.self)
            outputs = [try entry.decode(String.self), try entry.decode(String.self), try entry.decode(String.self)]
        }
    }

    private let examplesShown = 5

    private func tables() throws -> Tables {
        try JSONDecoder().decode(Tables.self, from: FixtureFiles.data("tokenizer-bytelevel-unicode.json"))
    }

    private static var allScalars: [Unicode.Scalar] { (0...0x10FFFF).compactMap { Unicode.Scalar(UInt32($0)) } }

    func testRegexClassesMatchOniguruma() throws {
        let tables = try tables()
        var expected = [ScalarClass](repeating: .other, count: 0x110000)
        for (runs, scalarClass) in [(tables.letter, ScalarClass.letter), (tables.number, .number), (tables.whitespace, .whitespace)] {
            for run in runs { for value in run[0]...run[1] { expected[Int(value)] = scalarClass } }
        }
        let wrong = Self.allScalars.filter { ScalarClass($0) != expected[Int($0.value)] }
        XCTAssert(wrong.isEmpty, "\(wrong.count) scalars classified differently from tokenizers' regex engine; first: "
            + wrong.prefix(examplesShown).map { "U+\(String($0.value, radix: 16, uppercase: true)) \(ScalarClass($0)) vs \(expected[Int($0.value)])" }
                .joined(separator: ", "))
    }

    func testNFCMatchesTokenizersOnEveryScalar() throws {
        let changes = Dictionary(uniqueKeysWithValues: try tables().nfc_changed.map { ($0.scalar, $0.outputs) })
        var wrong: [String] = []
        for scalar in Self.allScalars {
            let probes: [[Unicode.Scalar]] = [[scalar], ["q", scalar, "\u{301}"], ["q", "\u{301}", scalar]]
            let expected = changes[scalar.value]?.map { Array($0.unicodeScalars) } ?? probes
            for (probe, wanted) in zip(probes, expected) where TokenizersUnicode.nfc(probe) != wanted {
                wrong.append("\(probe.map { String($0.value, radix: 16) }) -> \(TokenizersUnicode.nfc(probe).map { String($0.value, radix: 16) }), "
                             + "expected \(wanted.map { String($0.value, radix: 16) })")
            }
        }
        XCTAssert(wrong.isEmpty, "\(wrong.count) NFC mismatches; first:\n" + wrong.prefix(examplesShown).joined(separator: "\n"))
    }
}
