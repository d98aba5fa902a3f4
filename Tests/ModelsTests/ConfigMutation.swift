import Foundation
import XCTest

/// config.json text made from `base` with the dotted `key` (any depth: "text_config.rope_parameters.rope_type")
/// set to `raw` (JSON text, written verbatim so that values JSONSerialization cannot make stay possible), or
/// removed when `raw` is nil.
func mutatedConfig(_ base: [String: Any], _ key: String, _ raw: String?) throws -> [UInt8] {
    let root = setting(base, path: key.split(separator: ".").map(String.init), to: raw == nil ? nil : "__VALUE__")
    let text = String(decoding: try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]), as: UTF8.self)
    return Array(text.replacingOccurrences(of: "\"__VALUE__\"", with: raw ?? "").utf8)
}

private func setting(_ object: [String: Any], path: [String], to value: Any?) -> [String: Any] {
    var object = object
    if path.count == 1 {
        object[path[0]] = value
    } else {
        object[path[0]] = setting(object[path[0]] as? [String: Any] ?? [:], path: Array(path.dropFirst()), to: value)
    }
    return object
}

/// Each case (a dotted key, its JSON text or nil to remove it, and the words its error must
/// contain: the key and the fix) must be refused with an error that starts with `source` and contains its message.
func assertEachRefused(_ cases: [(key: String, value: String?, message: String)], base: [String: Any], source: String, parse: ([UInt8], String) throws -> Any,
                       file: StaticString = #filePath, line: UInt = #line) throws {
    for refused in cases {
        let label = "\(refused.key) = \(refused.value ?? "(removed)")"
        XCTAssertThrowsError(try parse(try mutatedConfig(base, refused.key, refused.value), source), "\(label) accepted", file: file, line: line) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(source): "), "\(label): \(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(refused.message), "\(label): expected '\(refused.message)', got: \(error)", file: file, line: line)
        }
    }
}
