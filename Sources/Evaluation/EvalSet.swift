import Datasets
import Formats
import Foundation
import Images
import Training

/// What `discern eval` measures on: images, captions (each describing one image), and hard
/// negatives (an image, its positive caption, a named type, a false caption).
package struct EvalSet: Sendable {
    package struct Negative: Sendable {
        package var image: Int
        package var positive: Int
        package var type: String
        package var caption: String
    }
    /// (imageCount, 3, size, size), normalised, for a fixed-size model; empty otherwise.
    package var pixels: [Float]
    /// The decoded images, for a model whose images keep their own sizes (its processor resizes
    /// them); empty for a fixed-size model.
    package var images: [RGBImage] = []
    package var imageCount: Int
    package var captions: [String]
    package var captionImage: [Int]
    package var negatives: [Negative]

    /// A Discern data set directory: its `eval` split (or `split`), short captions as positives,
    /// the stored negatives. `imageSize`: the fixed-size model's side (the split must have it);
    /// nil keeps the stored images for a model that resizes each itself.
    package static func dataset(_ directory: String, split name: String = "eval", imageSize: Int?) throws -> EvalSet {
        let dataset = try Dataset.open(directory)
        guard dataset.splitNames.contains(name) else {
            throw DatasetError(file: directory, "has no '\(name)' split (it has: \(dataset.splitNames.joined(separator: ", "))); discern synth writes one with --eval N")
        }
        let split = try dataset.split(name)
        var set = EvalSet(pixels: [], imageCount: split.count, captions: [], captionImage: [], negatives: [])
        try set.addCaptions(of: split)
        guard let imageSize else {
            set.images = try split.images(at: 0..<split.count)   // any layout: the model's processor resizes each
            return set
        }
        guard split.imageSize == imageSize else {
            throw DatasetError(file: directory, "holds \(split.layout.imagesPhrase), the model expects \(imageSize)x\(imageSize)")
        }
        let bytesPerImage = imageSize * imageSize * 3
        var bytes = [UInt8](repeating: 0, count: split.count * bytesPerImage)
        try bytes.withUnsafeMutableBufferPointer { try split.readImages(indices: 0..<split.count, into: $0.baseAddress!) }
        set.pixels = [Float](repeating: 0, count: split.count * 3 * imageSize * imageSize)
        bytes.withUnsafeBufferPointer { input in
            set.pixels.withUnsafeMutableBufferPointer { output in
                for i in 0..<split.count {
                    PixelNormalization.clip.apply(input.baseAddress! + i * bytesPerImage, size: imageSize,
                                                  into: output.baseAddress! + i * 3 * imageSize * imageSize)
                }
            }
        }
        return set
    }

    /// The split's short captions as positives and its stored negatives.
    mutating func addCaptions(of split: DatasetSplit) throws {
        for i in 0..<split.count {
            let sample = try split.sample(at: i)
            guard let short = sample.short else { continue }
            let positive = captions.count
            captions.append(short)
            captionImage.append(i)
            for (type, caption) in sample.negatives.sorted(by: { $0.key < $1.key }) where !caption.isEmpty {
                negatives.append(Negative(image: i, positive: positive, type: type, caption: caption))
            }
        }
    }

    /// A JSONL file of `{"image": PATH, "caption": TEXT, "negatives": {TYPE: TEXT}}` (relative paths
    /// resolve against the file's folder). Lines naming the same image share it. Each line goes
    /// through the strict JSON parser; LF or CRLF line ends.
    /// `preprocessor`: the fixed-size model's; nil keeps the decoded images for a model that
    /// resizes each itself.
    package static func jsonl(_ path: String, preprocessor: ImagePreprocessor?) throws -> EvalSet {
        guard FileManager.default.fileExists(atPath: path) else { throw DatasetError(file: path, "no such file") }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        var set = EvalSet(pixels: [], imageCount: 0, captions: [], captionImage: [], negatives: [])
        var imageIndex: [String: Int] = [:]
        let bytes = try readFileBytes(path)
        for (number, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let place = "\(path):\(number + 1)"
            let entry = try EvalLine(Array(line), place: place)
            let resolved = entry.image.hasPrefix("/") ? entry.image : folder.appendingPathComponent(entry.image).path
            let index: Int
            if let known = imageIndex[resolved] { index = known } else {
                let decoded: RGBImage
                do { decoded = try loadImage(path: resolved) } catch { throw DatasetError(file: place, "\(error)") }
                index = set.imageCount
                imageIndex[resolved] = index
                set.imageCount += 1
                if let preprocessor { set.pixels += preprocessor.preprocess(decoded) } else { set.images.append(decoded) }
            }
            let positive = set.captions.count
            set.captions.append(entry.caption)
            set.captionImage.append(index)
            for (type, text) in entry.negatives {
                set.negatives.append(Negative(image: index, positive: positive, type: type, caption: text))
            }
        }
        guard !set.captions.isEmpty else { throw DatasetError(file: path, "holds no evaluation lines") }
        return set
    }
}

/// One line of an evaluation JSONL file, read through the strict parser.
struct EvalLine {
    let image: String
    let caption: String
    /// Sorted by type.
    let negatives: [(type: String, caption: String)]

    init(_ bytes: [UInt8], place: String) throws {
        let object: JSONObjectNode
        do throws(FormatError) { object = try JSONNode.parse(bytes, file: place).object() } catch {
            throw DatasetError(file: place, "\(error.problem); each line must be one object {\"image\": PATH, \"caption\": TEXT}")
        }
        do throws(FormatError) {
            image = try object.string("image")
            caption = try object.string("caption")
        } catch {
            throw DatasetError(file: place, "needs string fields \"image\" and \"caption\" (\(error.problem))")
        }
        guard let table = object.optional("negatives") else { negatives = []; return }
        guard case .object(let members) = table.value else { throw DatasetError(file: place, "\"negatives\" must map types to captions") }
        var negatives: [(type: String, caption: String)] = []
        for (type, value) in members {
            guard case .string(let text) = value else { throw DatasetError(file: place, "\"negatives\" must map types to captions") }
            negatives.append((type, text))
        }
        self.negatives = negatives.sorted { $0.type < $1.type }
    }
}
