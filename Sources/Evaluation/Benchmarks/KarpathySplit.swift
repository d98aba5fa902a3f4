import Formats
import Foundation

/// An image-text retrieval benchmark in the Karpathy-split JSON that Flickr30k and COCO results are
/// reported on (`dataset_flickr30k.json`, `dataset_coco.json`): `images[]` with `filename`,
/// `filepath` (COCO's `val2014` / `train2014`; absent for Flickr30k), `split` and `sentences[].raw`.
package struct RetrievalBenchmark: Sendable {
    /// Image files, resolved against the images root.
    package var imagePaths: [String]
    package var captions: [String]
    /// captionImage[c]: the index in imagePaths of the image caption c describes.
    package var captionImage: [Int]
    /// The file's own `dataset` field ("flickr30k", "coco"), when it has one.
    package var datasetName: String?
    package var split: String
}

package enum KarpathySplit {
    /// The images of `split` and all their captions, in file order. Every image needs at least one
    /// sentence; an empty split is an error naming the splits the file has.
    package static func read(_ path: String, images root: String, split: String) throws -> RetrievalBenchmark {
        let document = try JSONNode.read(path: path).object()
        let entries = try document.required("images").array()
        var benchmark = RetrievalBenchmark(imagePaths: [], captions: [], captionImage: [],
                                           datasetName: try document.optional("dataset")?.string(), split: split)
        var splitCounts: [String: Int] = [:]
        var places: [String] = []
        for entry in entries {
            let image = try entry.object()
            let name = try image.string("split")
            splitCounts[name, default: 0] += 1
            guard name == split else { continue }
            let folder = try image.optional("filepath")?.string()
            let file = try image.string("filename")
            let sentences = try image.required("sentences").array()
            guard !sentences.isEmpty else {
                throw FormatError(file: path, entry: entry.path + ".sentences", "is empty; every image of a retrieval split needs a caption")
            }
            let index = benchmark.imagePaths.count
            benchmark.imagePaths.append(resolve(file, folder: folder, root: root))
            places.append(entry.path + ".filename")
            for sentence in sentences {
                benchmark.captions.append(try sentence.object().string("raw"))
                benchmark.captionImage.append(index)
            }
        }
        guard !benchmark.imagePaths.isEmpty else {
            let present = splitCounts.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value) images)" }.joined(separator: ", ")
            throw FormatError(file: path, "has no images in split '\(split)' (it has: \(present.isEmpty ? "no images at all" : present)); pick one with --split")
        }
        try requireImageFiles(benchmark.imagePaths, places: places, file: path, root: root)
        return benchmark
    }

    static func resolve(_ file: String, folder: String?, root: String) -> String {
        var url = URL(fileURLWithPath: root)
        if let folder, !folder.isEmpty { url.appendPathComponent(folder) }
        return url.appendingPathComponent(file).path
    }
}

/// Every image a benchmark names must exist before any embedding starts; the error counts the
/// missing files and names the first with the entry that names it.
func requireImageFiles(_ paths: [String], places: [String], file: String, root: String) throws {
    let missing = paths.indices.filter { !FileManager.default.isReadableFile(atPath: paths[$0]) }
    guard let first = missing.first else { return }
    throw FormatError(file: file, entry: places[first],
                      "names \(paths[first]), which is missing or unreadable (\(missing.count) of \(paths.count) image files missing); "
                      + "check that --images \(root) is the folder the benchmark's images were unpacked into")
}
