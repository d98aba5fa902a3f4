import Foundation

/// Every JSON text Discern writes is encoded here, in one of three styles; every JSON text it
/// reads goes through the strict parser (JSONNode) or StrictJSON.
package enum JSONOutput {
    package enum Style: Sendable {
        /// Files people open (dataset.json, reports, adapter configs): indented, keys sorted (the
        /// same value always gives the same bytes), `/` unescaped.
        case document
        /// One line, keys sorted: records of metrics.jsonl, and canonical texts to compare.
        case compact
    }

    package static func encoder(_ style: Style) -> JSONEncoder {
        let encoder = JSONEncoder()
        switch style {
        case .document: encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        case .compact: encoder.outputFormatting = [.sortedKeys]
        }
        return encoder
    }

    package static func encode<T: Encodable>(_ value: T, style: Style) throws -> Data {
        try encoder(style).encode(value)
    }
}
