import Datasets
import Foundation
import Images
import Training

/// What `discern eval` measures on: images, captions (each describing one image), and hard
/// negatives (an image, its positive caption, a named type, a false caption).
public struct EvalSet: Sendable {
    public struct Negative: Sendable {
        public var image: Int
        public var positive: Int
        public var type: String
        public var caption: String
    }
    /// (imageCount, 3, size, size), normalised.
    public var pixels: [Float]
    public var imageCount: Int
    public var captions: [String]
    public var captionImage: [Int]
    public var negatives: [Negative]

    /// A Discern data set directory: its `eval` split (or `split`), short captions as positives,
    /// the stored negatives.
    public static func dataset(_ directory: String, split name: String = "eval", imageSize: Int) throws -> EvalSet {
        let dataset = try Dataset.open(directory)
        guard dataset.splitNames.contains(name) else {
            throw DatasetError(file: directory, "has no '\(name)' split (it has: \(dataset.splitNames.joined(separator: ", "))); discern synth writes one with --eval N")
        }
        let split = try dataset.split(name)
        guard split.imageSize == imageSize else {
            throw DatasetError(file: directory, "images are \(split.imageSize)x\(split.imageSize), the model expects \(imageSize)x\(imageSize)")
        }
        var set = EvalSet(pixels: [], imageCount: split.count, captions: [], captionImage: [], negatives: [])
        var bytes = [UInt8](repeating: 0, count: split.count * split.bytesPerImage)
        try bytes.withUnsafeMutableBufferPointer { try split.readImages(indices: 0..<split.count, into: $0.baseAddress!) }
        set.pixels = [Float](repeating: 0, count: split.count * 3 * imageSize * imageSize)
        bytes.withUnsafeBufferPointer { input in
            set.pixels.withUnsafeMutableBufferPointer { output in
                for i in 0..<split.count {
                    PixelNormalization.clip.apply(input.baseAddress! + i * split.bytesPerImage, size: imageSize,
                                                  into: output.baseAddress! + i * 3 * imageSize * imageSize)
                }
            }
        }
        for i in 0..<split.count {
            let sample = try split.sample(at: i)
            guard let short = sample.short else { continue }
            let positive = set.captions.count
            set.captions.append(short)
            set.captionImage.append(i)
            for (type, caption) in sample.negatives.sorted(by: { $0.key < $1.key }) where !caption.isEmpty {
                set.negatives.append(Negative(image: i, positive: positive, type: type, caption: caption))
            }
        }
        return set
    }

    /// A JSONL file of `{"image": PATH, "caption": TEXT, "negatives": {TYPE: TEXT}}` (relative paths
    /// resolve against the file's folder). Lines naming the same image share it.
    public static func jsonl(_ path: String, preprocessor: ImagePreprocessor) throws -> EvalSet {
        guard FileManager.default.fileExists(atPath: path) else { throw DatasetError(file: path, "no such file") }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        var set = EvalSet(pixels: [], imageCount: 0, captions: [], captionImage: [], negatives: [])
        var imageIndex: [String: Int] = [:]
        for (number, line) in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            let place = "\(path):\(number + 1)"
            guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
                throw DatasetError(file: place, "not a JSON object")
            }
            guard let image = object["image"] as? String, let caption = object["caption"] as? String else {
                throw DatasetError(file: place, "needs string fields \"image\" and \"caption\"")
            }
            let resolved = image.hasPrefix("/") ? image : folder.appendingPathComponent(image).path
            let index: Int
            if let known = imageIndex[resolved] { index = known } else {
                let decoded: RGBImage
                do { decoded = try loadImage(path: resolved) } catch { throw DatasetError(file: place, "\(error)") }
                index = set.imageCount
                imageIndex[resolved] = index
                set.imageCount += 1
                set.pixels += preprocessor.preprocess(decoded)
            }
            let positive = set.captions.count
            set.captions.append(caption)
            set.captionImage.append(index)
            if let negatives = object["negatives"] {
                guard let map = negatives as? [String: String] else { throw DatasetError(file: place, "\"negatives\" must map types to captions") }
                for (type, text) in map.sorted(by: { $0.key < $1.key }) {
                    set.negatives.append(Negative(image: index, positive: positive, type: type, caption: text))
                }
            }
        }
        guard !set.captions.isEmpty else { throw DatasetError(file: path, "holds no evaluation lines") }
        return set
    }
}
