import Datasets
import Formats
import Foundation

/// One skipped webdataset sample or member: the shard, the member (or sample key), why, and the details.
package struct WebDatasetIssue: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    package let shard: String
    /// The member's path in the tar, or the sample's key when the problem is the whole sample.
    package let member: String
    package let kind: ImportIssueKind
    package let reason: String

    package var description: String { "\(shard): \(member): \(kind.rawValue): \(reason)" }
}

/// Which fields of a sample's .json hold captions (`--caption-field`, `--long-caption-field`).
package struct WebDatasetCaptionFields: Sendable, Equatable {
    /// Short caption(s): a string or a list of strings. Without it (or when a sample's .json lacks
    /// it) the .txt member is the short caption.
    package var short: String?
    /// The long caption: a string.
    package var long: String?

    package init(short: String? = nil, long: String? = nil) {
        self.short = short
        self.long = long
    }

    var readsJSON: Bool { short != nil || long != nil }
}

/// Webdataset's grouping rule: the member path up to the first dot of its last component is the
/// sample key, the rest the extension; consecutive members with the same key form one sample.
enum WebDatasetKey {
    /// (key, extension), or nil for a name whose last component has no dot.
    static func split(_ name: String) -> (key: String, extension: String)? {
        let slash = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        guard let dot = name[slash...].firstIndex(of: "."), dot > slash else { return nil }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }
}

/// The members of one sample, as read from the tar.
struct WebDatasetGroup {
    let key: String
    var members: [(extension: String, member: TarMember)] = []
}

/// A sample whose members made sense: its image bytes still to decode.
struct WebDatasetEntry: Sendable {
    let key: String
    let imageMember: String
    let imageBytes: [UInt8]
    let shorts: [String]
    let long: String?

    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "webp"]

    /// The sample of `group`, or the issue that skips it; members of no known kind are reported
    /// through `unknown` and ignored (the rest of the sample is kept). Without `requireCaption`
    /// (`discern embed`) a sample with no caption is its image alone.
    static func parse(_ group: WebDatasetGroup, shard: String, fields: WebDatasetCaptionFields, requireCaption: Bool = true,
                      unknown: (WebDatasetIssue) -> Void) -> Result<Self, WebDatasetIssue> {
        func issue(_ kind: ImportIssueKind, _ member: String, _ reason: String) -> Result<Self, WebDatasetIssue> {
            .failure(WebDatasetIssue(shard: shard, member: member, kind: kind, reason: reason))
        }
        var byKind: [String: TarMember] = [:]
        for (ext, member) in group.members {
            let kind = imageExtensions.contains(ext.lowercased()) ? "image" : ext.lowercased()
            guard ["image", "txt", "json"].contains(kind) else {
                unknown(WebDatasetIssue(shard: shard, member: member.name, kind: .unknownMember,
                                        reason: "extension '.\(ext)' is not an image (.jpg, .jpeg, .png, .webp), .txt or .json; ignored"))
                continue
            }
            if let earlier = byKind[kind] {
                return issue(.wrongField, group.key, "two \(kind == "image" ? "images" : ".\(kind) members") "
                             + "('\(earlier.name)', '\(member.name)') for one sample key")
            }
            byKind[kind] = member
        }
        guard let image = byKind["image"] else {
            return issue(.missingImage, group.key, "the sample has no .jpg, .jpeg, .png or .webp member")
        }
        var shorts: [String] = [], long: String?
        if let txt = byKind["txt"] {
            guard let text = String(validating: txt.data, as: UTF8.self), !text.utf8.contains(0) else {
                return issue(.wrongField, txt.name, "the caption is not UTF-8 text")
            }
            let caption = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if caption.unicodeScalars.count > ShortCaptionRules.maxCharacters {
                return issue(.wrongField, txt.name, "the caption has \(caption.unicodeScalars.count) characters; at most "
                             + "\(ShortCaptionRules.maxCharacters) are accepted for a short caption (a long one belongs in the .json, --long-caption-field)")
            }
            if !caption.isEmpty { shorts = [caption] }
        }
        if fields.readsJSON, let json = byKind["json"] {
            switch jsonCaptions(json, fields: fields) {
            case .failure(let problem): return issue(problem.kind, json.name, problem.message)
            case .success(let found):
                if !found.shorts.isEmpty { shorts = found.shorts }
                long = found.long
            }
        }
        guard !shorts.isEmpty || long != nil || !requireCaption else {
            let sources = ["a .txt member"] + (fields.short.map { ["a .json \"\($0)\""] } ?? [])
                + (fields.long.map { ["a .json \"\($0)\""] } ?? [])
            return issue(.noCaption, group.key, "neither " + sources.joined(separator: " nor ") + " gives a caption")
        }
        return .success(WebDatasetEntry(key: group.key, imageMember: image.name, imageBytes: image.data,
                                        shorts: shorts, long: long))
    }

    private struct JSONProblem: Error { let kind: ImportIssueKind, message: String }

    private static func jsonCaptions(_ member: TarMember, fields: WebDatasetCaptionFields)
        -> Result<(shorts: [String], long: String?), JSONProblem> {
        let value: JSONValue
        do throws(JSONSyntaxError) { value = try JSONValue.parse(member.data) } catch {
            return .failure(JSONProblem(kind: .notJSON, message: "not valid JSON (\(error.reason) at column \(error.column))"))
        }
        guard case .object(let members) = value else {
            return .failure(JSONProblem(kind: .wrongField, message: "the .json is \(value.kindName), not an object"))
        }
        let object = JSONObjectNode(members: members)
        do throws(ManifestEntry.FieldProblem) {
            var shorts: [String] = [], long: String?
            if let field = fields.short { shorts = try ManifestEntry.captions(object, field) }
            if let field = fields.long { long = try ManifestEntry.text(object, field) }
            return .success((shorts, long))
        } catch {
            return .failure(JSONProblem(kind: .wrongField, message: error.message))
        }
    }
}
