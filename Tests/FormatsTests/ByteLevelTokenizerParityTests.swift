import Foundation
import Formats
import XCTest

/// Byte-level files (Qwen2's layout and GPT-2's): ids and decodes must equal those of the Python
/// `tokenizers` library (and transformers' PreTrainedTokenizerFast, which the fixture script
/// checked agree) on every corpus string (Tests/Reference/make_bytelevel_tokenizer_fixtures.py).
final class ByteLevelTokenizerParityTests: XCTestCase {
    private struct Corpus: Decodable {
        let strings: [String]
    }

    private struct Expected: Decodable {
        let vocab_size_with_added: Int
        let ids: [[Int32]]
        /// Only in the Qwen2 file (both files share the decoder).
        let decoded: [String]?
        let decoded_keep_special: [String]?
        let without_special_tokens: [[Int32]]
        /// Random id sequences, often invalid UTF-8 once decoded to bytes, and their decodes.
        let random_ids: [[Int32]]
        let random_ids_decoded: [String]
    }

    /// Failures list this many examples; the count of all mismatches is always reported.
    private let examplesShown = 5

    private func tokenizer(_ variant: String) throws -> Tokenizer {
        try Tokenizer(path: FixtureFiles.path("tokenizer-bytelevel-\(variant).json"))
    }

    private func check(variant: String) throws {
        let texts = try JSONDecoder().decode(Corpus.self, from: FixtureFiles.data("tokenizer-bytelevel-corpus.json")).strings
        let expected = try JSONDecoder().decode(Expected.self, from: FixtureFiles.data("tokenizer-bytelevel-\(variant)-expected.json"))
        let tokenizer = try tokenizer(variant)
        XCTAssertGreaterThanOrEqual(texts.count, 2000)
        XCTAssertEqual(expected.ids.count, texts.count)
        XCTAssertEqual(tokenizer.vocabSize, expected.vocab_size_with_added)

        var mismatches: [String: [String]] = [:]
        for (index, text) in texts.enumerated() {
            let ids = tokenizer.encode(text, addSpecialTokens: true)
            if ids != expected.ids[index] {
                mismatches["ids", default: []].append("#\(index) \(text.debugDescription): got \(ids), expected \(expected.ids[index])")
            }
            // Decode the Python ids so a decode bug is reported apart from an encode bug.
            for (what, skip, wanted) in [("decode", true, expected.decoded?[index]), ("decode keeping specials", false, expected.decoded_keep_special?[index])] {
                guard let wanted else { continue }
                let decoded = tokenizer.decode(expected.ids[index], skipSpecialTokens: skip)
                if !decoded.utf8.elementsEqual(wanted.utf8) {
                    mismatches[what, default: []].append("#\(index): got \(decoded.debugDescription), expected \(wanted.debugDescription)")
                }
            }
        }
        for (index, expectedIDs) in expected.without_special_tokens.enumerated() {
            let ids = tokenizer.encode(texts[index], addSpecialTokens: false)
            if ids != expectedIDs { mismatches["ids", default: []].append("#\(index) without special tokens: got \(ids), expected \(expectedIDs)") }
        }
        for (ids, wanted) in zip(expected.random_ids, expected.random_ids_decoded) {
            let decoded = tokenizer.decode(ids, skipSpecialTokens: false)
            if !decoded.utf8.elementsEqual(wanted.utf8) {
                mismatches["random-id decode", default: []].append("\(ids): got \(decoded.debugDescription), expected \(wanted.debugDescription)")
            }
        }
        for (what, list) in mismatches.sorted(by: { $0.key < $1.key }) {
            XCTFail("\(variant): \(list.count) \(what) mismatches; first:\n" + list.prefix(examplesShown).joined(separator: "\n"))
        }
    }

    func testQwen2FileMatchesPython() throws { try check(variant: "qwen2") }

    func testGPT2FileMatchesPython() throws { try check(variant: "gpt2") }

    /// Qwen2-VL's added tokens follow the vocabulary in its order; the role ids go by their names.
    func testQwen2RoleIDsAndLookups() throws {
        let tokenizer = try tokenizer("qwen2")
        let names = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
                     "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
                     "<|image_pad|>", "<|video_pad|>"]
        XCTAssertEqual(names.map { tokenizer.tokenID(for: $0) }, (0..<Int32(names.count)).map { 2000 + $0 })
        XCTAssertNil(tokenizer.bosTokenID)
        XCTAssertEqual(tokenizer.eosTokenID, 2000)
        XCTAssertEqual(tokenizer.padTokenID, 2000)
        XCTAssertEqual(tokenizer.turnEndTokenID, 2002)
        XCTAssertNil(tokenizer.unknownTokenID)
        XCTAssertEqual(tokenizer.piece(for: 2012), "<|image_pad|>")
        XCTAssertEqual(tokenizer.tokenID(for: "Ġ"), 220, "the trainer orders the alphabet by scalar, as in GPT-2: space is 220")
        XCTAssertEqual(tokenizer.encode("", addSpecialTokens: true), [])
        XCTAssertEqual(tokenizer.encode("<|vision_start|><|image_pad|><|vision_end|>"), [2009, 2012, 2010])
    }

    /// A caption of about 30 words, encoded many times: the hot path must stay well under a millisecond.
    func testCaptionEncodingIsFast() throws {
        let tokenizer = try tokenizer("qwen2")
        let caption = "<|vision_start|><|image_pad|><|vision_end|>A small red circle is left of a large blue square, and a tiny "
            + "green triangle sits above them; the background is grey. There are 3 objects in this 64x64 picture."
        let repeats = 2000
        let start = DispatchTime.now().uptimeNanoseconds
        var total = 0
        for _ in 0..<repeats { total += tokenizer.encode(caption).count }
        let perCaption = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(repeats) / 1e6
        print("byte-level encode: \(String(format: "%.4f", perCaption)) ms per \(caption.split(separator: " ").count)-word caption")
        XCTAssertGreaterThan(total, 0)
        // Generous for a shared 2-core machine; measured about 0.02 ms.
        XCTAssertLessThan(perCaption, 0.5)
    }
}
