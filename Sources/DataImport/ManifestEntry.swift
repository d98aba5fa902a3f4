import Foundation
import Datasets
import Formats

/// Why a manifest line (or a webdataset sample or member) was skipped.
package enum ImportIssueKind: String, Sendable, Codable, CaseIterable, Comparable {
    case notJSON = "not JSON"
    case wrongField = "wrong field"
    case noCaption = "no caption"
    case missingImage = "missing image"
    case corruptImage = "unreadable image"
    /// The model's image processor refuses it (Qwen2-VL: an aspect ratio above 200:1).
    case refusedImage = "refused image"
    /// A webdataset member that is not an image, .txt or .json, or has no extension.
    case unknownMember = "unknown member"
    /// A webdataset shard that ends early or has a damaged header: the rest of it is lost.
    case damagedTar = "damaged tar"

    package static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One skipped manifest line: where, what kind of problem, and the details.
package struct ImportIssue: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based line number in the manifest.
    package let line: Int
    package let kind: ImportIssueKind
    package let reason: String

    package var description: String { "line \(line): \(kind.rawValue): \(reason)" }
}

/// A manifest line that parsed: the training format `{"image", "short", "long", "negatives"}` or
/// the evaluation format `{"image", "caption", "negatives"}` (caption is the short caption).
/// "short" (or "caption") is one caption or a list of them (several short captions per image,
/// ShortCaptionRules). An optional "id" replaces the default id (the image path as written).
/// Other keys are ignored.
struct ManifestEntry: Sendable {
    let line: Int
    let id: String
    /// Absolute, or relative to the working directory: already resolved against the manifest.
    let imagePath: String
    /// The short captions (empty when none): one, or the line's list.
    let shorts: [String]
    let long: String?
    let negatives: [String: String]

    /// Parses one line; `nil` for a blank line. `captionRequired: false` accepts an image alone
    /// (`discern embed` embeds its image and no text).
    static func parse(_ bytes: ArraySlice<UInt8>, line: Int, baseDirectory: String,
                      captionRequired: Bool = true) -> Result<Self, ImportIssue>? {
        func issue(_ kind: ImportIssueKind, _ reason: String) -> Result<Self, ImportIssue> {
            .failure(ImportIssue(line: line, kind: kind, reason: reason))
        }
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return nil }
        // The strict parser: a duplicate key, a trailing comma or NaN is an error, not a guess.
        let value: JSONValue
        do throws(JSONSyntaxError) { value = try JSONValue.parse(Array(bytes)) } catch {
            let text = String(decoding: bytes.prefix(60), as: UTF8.self)
            return issue(.notJSON, "'\(text)\(bytes.count > 60 ? "..." : "")' is not valid JSON (\(error.reason) at column \(error.column)); "
                         + "each line must be one object like {\"image\": \"a.jpg\", \"short\": \"...\", \"long\": \"...\"}")
        }
        guard case .object(let members) = value else {
            return issue(.wrongField, "the line is JSON but not an object; expected {\"image\": ..., ...}")
        }
        let object = JSONObjectNode(members: members)
        let fields: (image: String?, id: String?, short: [String], long: String?, caption: [String])
        do throws(FieldProblem) {
            fields = (try text(object, "image"), try text(object, "id"), try captions(object, "short"),
                      try text(object, "long"), try captions(object, "caption"))
        } catch {
            return issue(.wrongField, error.message)
        }
        guard let image = fields.image else {
            return issue(.wrongField, "no \"image\" field (a path to a JPEG, PNG or WebP, relative to the manifest)")
        }
        if !fields.short.isEmpty, !fields.caption.isEmpty, fields.short != fields.caption {
            return issue(.wrongField, "both \"short\" and \"caption\" are given and differ; \"caption\" is the "
                         + "evaluation format's short caption, give only one")
        }
        let shorts = fields.short.isEmpty ? fields.caption : fields.short
        guard !shorts.isEmpty || fields.long != nil || !captionRequired else {
            return issue(.noCaption, "neither a \"short\" (or \"caption\") nor a \"long\" caption is given")
        }
        var negatives: [String: String] = [:]
        switch object.optional("negatives")?.value {
        case nil: break
        case .object(let table)?:
            for (type, value) in table {
                guard ShardSchema.isPlainName(type) else {
                    return issue(.wrongField, "negative type '\(type)' must be a plain name (letters, digits, "
                                 + "'_', '-', '.')")
                }
                guard case .string(let caption) = value, !caption.utf8.contains(0) else {
                    return issue(.wrongField, "\"negatives\".\"\(type)\" must be a caption string")
                }
                if !caption.isEmpty { negatives[type] = caption }
            }
        default:
            return issue(.wrongField, "\"negatives\" must be an object {type: caption}")
        }
        let path = image.hasPrefix("/") ? image : (baseDirectory as NSString).appendingPathComponent(image)
        return .success(ManifestEntry(line: line, id: fields.id ?? image, imagePath: path, shorts: shorts,
                                      long: fields.long, negatives: negatives))
    }

    /// A field of the wrong type or content; also used for a webdataset sample's .json.
    struct FieldProblem: Error { let message: String }

    /// The short captions at `key`: a string (empty when absent, null or ""), or a list of strings
    /// that ShortCaptionRules accepts; throws for anything else.
    static func captions(_ object: JSONObjectNode, _ key: String) throws(FieldProblem) -> [String] {
        guard case .array(let items)? = object.optional(key)?.value else {
            switch object.optional(key)?.value {
            case nil, .null?, .string?: return try text(object, key).map { [$0] } ?? []
            case let other?: throw FieldProblem(message: "\"\(key)\" must be a caption string or a list of them, not \(other.kindName)")
            }
        }
        var list: [String] = []
        for (index, item) in items.enumerated() {
            guard case .string(let caption) = item else {
                throw FieldProblem(message: "\"\(key)\"[\(index)] must be a caption string, not \(item.kindName)")
            }
            list.append(caption)
        }
        if let problem = ShortCaptionRules.problem(list) { throw FieldProblem(message: "\"\(key)\": \(problem)") }
        return list
    }

    /// The string at `key`: nil when absent, null or empty; throws for any other type.
    static func text(_ object: JSONObjectNode, _ key: String) throws(FieldProblem) -> String? {
        guard let node = object.optional(key) else { return nil }
        guard case .string(let string) = node.value else {
            throw FieldProblem(message: "\"\(key)\" must be a string, not \(node.value.kindName)")
        }
        if string.utf8.contains(0) { throw FieldProblem(message: "\"\(key)\" contains a NUL character") }
        return string.isEmpty ? nil : string
    }
}
