import Foundation
import Formats
import XCTest

/// Ids and decodes must equal those of the Python `tokenizers` library (and transformers'
/// PreTrainedTokenizerFast, which the fixture script checked agree) on every corpus string.
final class TokenizerParityTests: XCTestCase {
    private struct Corpus: Decodable {
        let strings: [String]
    }

    private struct Expected: Decodable {
        let vocab_size_with_added: Int
        let ids: [[Int32]]
        let decoded: [String]
        let decoded_keep_special: [String]
        let without_special_tokens: [[Int32]]
    }

    /// Failures list this many examples; the count of all mismatches is always reported.
    private let examplesShown = 5

    private func check(variant: String) throws {
        let texts = try JSONDecoder().decode(Corpus.self, from: FixtureFiles.data("tokenizer-corpus.json")).strings
        let expected = try JSONDecoder().decode(Expected.self, from: FixtureFiles.data("tokenizer-\(variant)-expected.json"))
        let tokenizer = try Tokenizer(path: FixtureFiles.path("tokenizer-\(variant).json"))
        XCTAssertGreaterThanOrEqual(texts.count, 2000)
        XCTAssertEqual(expected.ids.count, texts.count)
        XCTAssertEqual(tokenizer.vocabSize, expected.vocab_size_with_added)

        var idMismatches: [String] = [], decodeMismatches: [String] = [], keepMismatches: [String] = []
        for (index, text) in texts.enumerated() {
            let ids = tokenizer.encode(text, addSpecialTokens: true)
            if ids != expected.ids[index] {
                idMismatches.append("#\(index) \(text.debugDescription): got \(ids), expected \(expected.ids[index])")
            }
            // Decode the Python ids so a decode bug is reported apart from an encode bug.
            let decoded = tokenizer.decode(expected.ids[index])
            if !decoded.utf8.elementsEqual(expected.decoded[index].utf8) {
                decodeMismatches.append("#\(index) \(text.debugDescription): got \(decoded.debugDescription), expected \(expected.decoded[index].debugDescription)")
            }
            let kept = tokenizer.decode(expected.ids[index], skipSpecialTokens: false)
            if !kept.utf8.elementsEqual(expected.decoded_keep_special[index].utf8) {
                keepMismatches.append("#\(index): got \(kept.debugDescription), expected \(expected.decoded_keep_special[index].debugDescription)")
            }
        }
        for (index, expectedIDs) in expected.without_special_tokens.enumerated() {
            let ids = tokenizer.encode(texts[index], addSpecialTokens: false)
            if ids != expectedIDs { idMismatches.append("#\(index) without special tokens: got \(ids), expected \(expectedIDs)") }
        }
        for (what, mismatches) in [("ids", idMismatches), ("decode", decodeMismatches), ("decode keeping specials", keepMismatches)] {
            XCTAssert(mismatches.isEmpty, "\(variant): \(mismatches.count) \(what) mismatches of \(texts.count); first:\n"
                + mismatches.prefix(examplesShown).joined(separator: "\n"))
        }
    }

    func testLegacyNormalizerFileMatchesPython() throws { try check(variant: "legacy") }

    func testMetaspaceFileMatchesPython() throws { try check(variant: "metaspace") }

    func testSpecialTokenIDsAndLookups() throws {
        for variant in ["legacy", "metaspace"] {
            let tokenizer = try Tokenizer(path: FixtureFiles.path("tokenizer-\(variant).json"))
            XCTAssertEqual(tokenizer.unknownTokenID, 0)
            XCTAssertEqual(tokenizer.bosTokenID, 1)
            XCTAssertEqual(tokenizer.eosTokenID, 2)
            XCTAssertEqual(tokenizer.tokenID(for: "<0x00>"), 3)
            XCTAssertEqual(tokenizer.tokenID(for: "<0xFF>"), 258)
            let image = try XCTUnwrap(tokenizer.tokenID(for: "<image>"))
            XCTAssertEqual(tokenizer.padTokenID, image + 1, "<pad> follows <image>, as in LLaVA-1.5")
            XCTAssertEqual(tokenizer.piece(for: image), "<image>")
            XCTAssertNil(tokenizer.tokenID(for: "no such piece"))
            XCTAssertEqual(tokenizer.encode("", addSpecialTokens: true), [1])
            XCTAssertEqual(tokenizer.encode("", addSpecialTokens: false), [])
        }
    }
}
