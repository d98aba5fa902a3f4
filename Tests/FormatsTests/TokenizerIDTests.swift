import Formats
import XCTest

/// tokenizer.json ids: inside Int32, below the limit a model gives, each offender named.
final class TokenizerIDTests: XCTestCase {
    static func tokenizerJSON(vocab: String = #""<unk>": 0, "a": 1, "b": 2, "ab": 3"#, added: String = "",
                              special: String = "0") -> [UInt8] {
        Array("""
        {"version": "1.0", "truncation": null, "padding": null,
         "added_tokens": [\(added)],
         "normalizer": null, "pre_tokenizer": null,
         "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<unk>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                            "pair": [], "special_tokens": {"<unk>": {"id": "<unk>", "ids": [\(special)], "tokens": ["<unk>"]}}},
         "decoder": null,
         "model": {"type": "BPE", "vocab": {\(vocab)}, "merges": ["a b"], "unk_token": "<unk>"}}
        """.utf8)
    }

    func testValidTokenizerLoadsWithALimit() throws {
        let tokenizer = try Tokenizer(json: Self.tokenizerJSON(), path: "tokenizer.json", idLimit: 4)
        XCTAssertEqual(tokenizer.encode("ab"), [0, 3])
        XCTAssertNil(tokenizer.firstToken(where: { $0 >= 4 }))
        XCTAssertEqual(tokenizer.firstToken(where: { $0 >= 3 })?.token, "'ab' (model.vocab)")
    }

    func testIDsOutsideTheLimitNameTheToken() {
        let cases: [([UInt8], Int, String)] = [
            (Self.tokenizerJSON(), 3, "token 'ab' (model.vocab) has id 3; ids must be below 3"),
            (Self.tokenizerJSON(vocab: #""<unk>": 0, "a": 1, "b": 2, "ab": 2000000000"#), 4, "token 'ab' (model.vocab) has id 2000000000"),
            (Self.tokenizerJSON(added: #"{"id": 7, "content": "<image>", "special": true}"#), 4, "token '<image>' (added_tokens) has id 7"),
            (Self.tokenizerJSON(special: "9"), 4, "token post_processor special token has id 9"),
        ]
        for (json, limit, expected) in cases {
            XCTAssertThrowsError(try Tokenizer(json: json, path: "tokenizer.json", idLimit: limit)) { error in
                XCTAssertTrue("\(error)".hasPrefix("tokenizer.json: \(expected)"), "\(error)")
            }
        }
    }

    func testIDsOutsideInt32OrNegativeAreRefused() {
        for id in ["-1", "2147483648", "99999999999999999999999"] {
            XCTAssertThrowsError(try Tokenizer(json: Self.tokenizerJSON(vocab: #""<unk>": 0, "a": 1, "b": 2, "ab": \#(id)"#), path: "tokenizer.json")) { error in
                XCTAssertTrue("\(error)".contains("model.vocab.ab"), "\(id): \(error)")
            }
            XCTAssertThrowsError(try Tokenizer(json: Self.tokenizerJSON(added: #"{"id": \#(id), "content": "<x>"}"#), path: "tokenizer.json")) { error in
                XCTAssertTrue("\(error)".contains("added_tokens[0]"), "\(id): \(error)")
            }
        }
        // Without a model to compare with, a sparse id near Int32.max is refused before decode's
        // id table is allocated.
        XCTAssertThrowsError(try Tokenizer(json: Self.tokenizerJSON(vocab: #""<unk>": 0, "a": 1, "b": 2, "ab": 2147483647"#), path: "tokenizer.json")) { error in
            XCTAssertTrue("\(error)".contains("has id 2147483647; ids must be below \(Tokenizer.defaultIDLimit)"), "\(error)")
        }
    }

    func testDuplicateKeysInTheTokenizerAreRefused() {
        XCTAssertThrowsError(try Tokenizer(json: Self.tokenizerJSON(vocab: #""<unk>": 0, "a": 1, "a": 2, "ab": 3"#), path: "tokenizer.json")) { error in
            XCTAssertTrue("\(error)".contains(#"duplicate key "a""#), "\(error)")
        }
    }
}
