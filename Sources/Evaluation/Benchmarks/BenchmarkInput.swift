import Formats
import Foundation

/// One published benchmark read from disk, its images checked to exist.
package struct LoadedBenchmark: Sendable {
    package enum Content: Sendable {
        case retrieval(RetrievalBenchmark)
        case sugarCrepe(SugarCrepeBenchmark)
        case winoground(WinogroundBenchmark)
    }
    /// The name in the report: the --benchmark name, else the file's own (Karpathy `dataset`).
    package var name: String
    package var data: String
    package var content: Content
}

/// The formats `discern eval --data` reads, and how `--benchmark NAME` or the content picks one.
package enum EvalInputKind: Equatable, Sendable {
    /// A Discern data set directory or a Discern eval JSONL: `discern eval`'s own report.
    case discern
    case karpathy, sugarCrepe, winoground

    /// `--benchmark` names and the format each reads.
    package static let names: [(name: String, kind: EvalInputKind)] = [
        ("flickr30k", .karpathy), ("coco", .karpathy), ("karpathy", .karpathy), ("sugarcrepe", .sugarCrepe), ("winoground", .winoground),
        ("discern", .discern),
    ]

    package static func named(_ name: String) throws -> EvalInputKind {
        guard let kind = names.first(where: { $0.name == name.lowercased() })?.kind else {
            throw FormatError(file: "--benchmark", "'\(name)' is not a benchmark this version reads; use one of \(names.map(\.name).joined(separator: ", "))")
        }
        return kind
    }

    /// The format of `path` from what it holds: a folder with dataset.json or with SugarCrepe's
    /// files, a JSONL whose first line has `caption_0` (Winoground) or `image` (Discern), a JSON
    /// object with `images` (Karpathy) or with `negative_caption` items (one SugarCrepe file).
    package static func detect(_ path: String) throws -> EvalInputKind {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FormatError(file: path, "no such data set directory or benchmark file")
        }
        if isDirectory.boolValue {
            if FileManager.default.fileExists(atPath: URL(fileURLWithPath: path).appendingPathComponent("dataset.json").path) { return .discern }
            if !SugarCrepeFiles.filesPresent(in: path).isEmpty { return .sugarCrepe }
            throw FormatError(file: path, "is neither a Discern data set (no dataset.json) nor a SugarCrepe folder (none of its "
                              + "\(SugarCrepeFiles.categories.count) CATEGORY.json files); give the benchmark file itself")
        }
        if path.hasSuffix(".jsonl") {
            guard let first = try nonBlankLines(path).first else { throw FormatError(file: path, "is empty") }
            let object = try JSONNode.parse(first.bytes, file: "\(path):\(first.number)").object()
            return object.node("caption_0") != nil ? .winoground : .discern
        }
        let document = try JSONNode.read(path: path).object()
        if document.node("images") != nil { return .karpathy }
        if case .object(let fields)? = document.members.first?.value, fields.contains(where: { $0.key == "negative_caption" }) { return .sugarCrepe }
        throw FormatError(file: path, "is not a benchmark this version recognises (a Karpathy split has \"images\", a SugarCrepe file "
                          + "{id: {filename, caption, negative_caption}}); name it with --benchmark")
    }

    /// Reads a published benchmark; `split` applies to Karpathy files (default `test`).
    package func load(_ path: String, name: String?, images root: String, split: String?) throws -> LoadedBenchmark {
        switch self {
        case .karpathy:
            let retrieval = try KarpathySplit.read(path, images: root, split: split ?? "test")
            let fallback = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            return LoadedBenchmark(name: name ?? retrieval.datasetName ?? fallback, data: path, content: .retrieval(retrieval))
        case .sugarCrepe:
            return LoadedBenchmark(name: name ?? "sugarcrepe", data: path, content: .sugarCrepe(try SugarCrepeFiles.read(path, images: root)))
        case .winoground:
            return LoadedBenchmark(name: name ?? "winoground", data: path, content: .winoground(try WinogroundExamples.read(path, images: root)))
        case .discern:
            preconditionFailure("Discern data sets are read by EvalSet")
        }
    }
}
