import Foundation
import Formats
import XCTest

/// Byte-level tokenizer.json stages Discern cannot reproduce exactly are refused at load time,
/// naming the key, never approximated.
final class ByteLevelTokenizerLoadTests: XCTestCase {
    private static let qwen2Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"#
    private static let byteLevel = #"{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}"#

    private static func split(pattern: String = #"{"Regex": "\#(qwen2Regex)"}"#, behavior: String = "Isolated", invert: String = "false") -> String {
        #"{"type": "Split", "pattern": \#(pattern), "behavior": "\#(behavior)", "invert": \#(invert)}"#
    }

    private static func json(preTokenizer: String = #"{"type": "Sequence", "pretokenizers": [\#(split()), \#(byteLevel)]}"#,
                             byteFallback: Bool = false) -> [UInt8] {
        Array("""
        {"version": "1.0", "truncation": null, "padding": null,
         "added_tokens": [{"id": 3, "content": "<|endoftext|>", "special": true, "normalized": false}],
         "normalizer": {"type": "NFC"}, "pre_tokenizer": \(preTokenizer),
         "post_processor": \(byteLevel), "decoder": \(byteLevel),
         "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]], "unk_token": null,
                   "byte_fallback": \(byteFallback), "ignore_merges": false}}
        """.utf8)
    }

    private func assertRefused(_ json: [UInt8], _ expected: String, line: UInt = #line) {
        XCTAssertThrowsError(try Tokenizer(json: json, path: "tokenizer.json"), line: line) { error in
            XCTAssertTrue("\(error)".hasPrefix("tokenizer.json: \(expected)"), "\(error)", line: line)
        }
    }

    func testTheQwen2LayoutLoads() throws {
        let tokenizer = try Tokenizer(json: Self.json(), path: "tokenizer.json")
        // "ab" and "ba" are one word each; only "a b" merges; bytes outside the vocabulary are dropped (no unk token).
        XCTAssertEqual(tokenizer.encode("ab<|endoftext|>ba"), [2, 3, 1, 0])
        XCTAssertEqual(tokenizer.decode([2, 3, 1]), "abb")
        XCTAssertEqual(tokenizer.eosTokenID, 3)
    }

    /// ignore_merges takes a word that is a piece whole (ids from tokenizers 0.23.3 on this file).
    func testIgnoreMergesTakesWholeWords() throws {
        for (ignoreMerges, expected) in [(false, [0, 4, 6, 0, 4] as [Int32]), (true, [5, 7])] {
            let json = #"""
            {"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true},
             "post_processor": null, "decoder": {"type": "ByteLevel"},
             "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5, "Ġ": 6, "Ġabc": 7},
                       "merges": [["b", "c"], ["a", "b"]], "ignore_merges": \#(ignoreMerges)}}
            """#
            let tokenizer = try Tokenizer(json: Array(json.utf8), path: "tokenizer.json")
            XCTAssertEqual(tokenizer.encode("abc abc"), expected, "ignore_merges \(ignoreMerges)")
            XCTAssertEqual(tokenizer.encode("abcabc"), [0, 4, 0, 4], "ignore_merges \(ignoreMerges)")
            XCTAssertEqual(tokenizer.decode(expected), "abc abc")
        }
    }

    func testAnUnknownPatternIsRefused() {
        // Llama-3's pattern differs from Qwen2's in one place (\p{N}{1,3}): still not guessed.
        let llama3 = Self.qwen2Regex.replacingOccurrences(of: #"\\p{N}|"#, with: #"\\p{N}{1,3}|"#)
        XCTAssertNotEqual(llama3, Self.qwen2Regex)
        for pattern in [#"\\w+"#, llama3] {
            let preTokenizer = #"{"type": "Sequence", "pretokenizers": [\#(Self.split(pattern: #"{"Regex": "\#(pattern)"}"#)), \#(Self.byteLevel)]}"#
            assertRefused(Self.json(preTokenizer: preTokenizer), "'pre_tokenizer.pretokenizers[0].pattern.Regex': pattern")
        }
        let literal = #"{"type": "Sequence", "pretokenizers": [\#(Self.split(pattern: #"{"String": " "}"#)), \#(Self.byteLevel)]}"#
        assertRefused(Self.json(preTokenizer: literal), "'pre_tokenizer.pretokenizers[0].pattern': only a {\"Regex\": ...} pattern")
    }

    func testAnotherBehaviorOrAnInvertedSplitIsRefused() {
        for behavior in ["Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"] {
            let preTokenizer = #"{"type": "Sequence", "pretokenizers": [\#(Self.split(behavior: behavior)), \#(Self.byteLevel)]}"#
            assertRefused(Self.json(preTokenizer: preTokenizer), "'pre_tokenizer.pretokenizers[0].behavior': behavior '\(behavior)'")
        }
        let inverted = #"{"type": "Sequence", "pretokenizers": [\#(Self.split(invert: "true")), \#(Self.byteLevel)]}"#
        assertRefused(Self.json(preTokenizer: inverted), "'pre_tokenizer.pretokenizers[0].invert'")
    }

    func testByteFallbackWithByteLevelIsRefused() {
        assertRefused(Self.json(byteFallback: true), "'model.byte_fallback': is true, but the pre-tokenizer is ByteLevel")
        assertRefused(Self.json(preTokenizer: Self.byteLevel, byteFallback: true), "'model.byte_fallback'")
    }

    func testStagesOutsideTheSupportedLayoutsAreRefused() {
        let metaspace = #"{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}"#
        let cases: [(String, String)] = [
            (Self.split(), "'pre_tokenizer.type': a Split pre-tokenizer is supported only inside a Sequence"),
            (#"{"type": "Sequence", "pretokenizers": [\#(Self.split())]}"#, "'pre_tokenizer.pretokenizers': a Sequence"),
            (#"{"type": "Sequence", "pretokenizers": []}"#, "'pre_tokenizer.pretokenizers': a Sequence"),
            (#"{"type": "Sequence", "pretokenizers": [\#(metaspace), \#(Self.byteLevel)]}"#, "'pre_tokenizer.pretokenizers[0].type': only Split stages"),
            (#"{"type": "ByteLevel", "trim_offsets": false}"#, "'pre_tokenizer': missing required key 'add_prefix_space'"),
            (#"{"type": "Whitespace"}"#, "'pre_tokenizer.type': pre_tokenizer type 'Whitespace' is not supported"),
        ]
        for (preTokenizer, expected) in cases { assertRefused(Self.json(preTokenizer: preTokenizer), expected) }
    }
}
