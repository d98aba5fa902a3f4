import Datasets
import Foundation

/// One manifest line as `discern embed` reads it: what to call the item, where its image is and
/// the captions to embed beside it (its short captions, else its long one; none for an image alone).
package struct ManifestItem: Sendable, Equatable {
    /// 1-based line number in the manifest, for messages.
    package let line: Int
    package let id: String
    /// Resolved against the manifest's folder.
    package let imagePath: String
    package let captions: [String]
}

/// Every item of a JSONL manifest (docs/data.md), in line order, for `discern embed`: only the
/// text is read, not the images, so this costs a stat per line. Unlike `discern prepare`, a bad
/// line is an error naming the manifest and the line, not a skip: an embeddings file lists every
/// input line or none.
package func readManifestItems(_ manifest: String) throws -> [ManifestItem] {
    var reader = try LineReader(path: manifest)
    defer { reader.close() }
    let base = (manifest as NSString).deletingLastPathComponent
    var items: [ManifestItem] = []
    while let bytes = try reader.next() {
        let line = reader.lineNumber
        guard let parsed = ManifestEntry.parse(bytes, line: line, baseDirectory: base, captionRequired: false) else { continue }
        let entry: ManifestEntry
        switch parsed {
        case .success(let value): entry = value
        case .failure(let issue): throw DatasetError(file: "\(manifest):\(line)", "\(issue.kind.rawValue): \(issue.reason)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: entry.imagePath, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw DatasetError(file: "\(manifest):\(line)", "missing image: '\(entry.imagePath)' does not exist (paths are relative "
                               + "to the manifest's folder); fix the path or remove the line")
        }
        items.append(ManifestItem(line: line, id: entry.id, imagePath: entry.imagePath, captions: entry.shorts.isEmpty ? entry.long.map { [$0] } ?? [] : entry.shorts))
    }
    guard !items.isEmpty else { throw DatasetError(file: manifest, "holds no lines to embed (expected one JSON object per line)") }
    return items
}
