import Configuration
import Datasets
import Images
import ModelFiles
import Models
import Training

/// How stored RGB images become the vision encoder's input in a TrainingBatch.
package enum TrainingImageEncoding: Sendable {
    /// CLIP's normalisation of the split's fixed-size images (LLaVA).
    case fixed(PixelNormalization)
    /// Qwen2-VL's processor: smart-resized within its pixel bounds, cut into patch rows.
    case ownSize(Qwen2VLImageProcessor)

    /// The encoding a model directory's family reads.
    package init(_ family: ModelFamily) throws {
        switch family {
        case .llava: self = .fixed(.clip)
        case .qwen2VL(_, let settings): self = .ownSize(try Qwen2VLImageProcessor(settings: settings))
        }
    }
}

/// Training batches from a data set's split: the deterministic order of BatchOrder, images
/// encoded for the vision encoder, captions as stored.
package final class ShardTrainingData: TrainingData {
    package let split: DatasetSplit
    let seed: UInt64
    let encoding: TrainingImageEncoding
    /// Hard negative captions to read per pair (loss.hard_negatives; 0 = none).
    let hardNegatives: Int
    var epochOrder: EpochOrder?
    var order: BatchOrder?
    var imageBytes: [UInt8] = []

    package init(split: DatasetSplit, seed: UInt64, hardNegatives: Int = 0, encoding: TrainingImageEncoding = .fixed(.clip)) {
        self.split = split
        self.seed = seed
        self.hardNegatives = hardNegatives
        self.encoding = encoding
    }

    package func stepsPerEpoch(_ batchSplit: BatchSplit) -> Int { split.count / batchSplit.global }

    package func batch(step: Int, rank: Int, split batchSplit: BatchSplit) throws -> TrainingBatch {
        if order?.globalBatchSize != batchSplit.global {
            order = try BatchOrder(sampleCount: split.count, globalBatchSize: batchSplit.global, seed: seed)
            epochOrder = nil
        }
        let cursor = order!.cursor(globalStep: step)
        if epochOrder?.epoch != cursor.epoch { epochOrder = order!.epochOrder(cursor.epoch) }
        let positions = batchSplit.positions(rank: rank)
        let indices = epochOrder!.rankBatch(step: cursor.stepInEpoch, positions: positions)
        let (pixels, grids, imageKeys) = try encode(Array(indices))
        var shorts: [String?] = [], longs: [String?] = [], negatives: [String?] = []
        for index in indices {
            let captions = try split.captions(at: index)
            shorts.append(try shortCaption(index, epoch: cursor.epoch, first: captions.short))
            longs.append(captions.long)
            if hardNegatives > 0 {
                let found = try split.hardNegatives(at: index, limit: hardNegatives)
                negatives += found.map(Optional.some) + [String?](repeating: nil, count: hardNegatives - found.count)
            }
        }
        return TrainingBatch(pixels: pixels, imageGrids: grids, shortCaptions: shorts, longCaptions: longs, negativeCaptions: negatives,
                             negativesPerPair: hardNegatives, globalOffset: positions.lowerBound, imageKeys: imageKeys)
    }

    /// The short caption sample `index` contributes in `epoch`: one of its list, chosen by
    /// ShortCaptionChoice (a pure function of seed, epoch and index), or its only one.
    func shortCaption(_ index: Int, epoch: Int, first: String?) throws -> String? {
        guard split.hasShortCaptionLists, first != nil else { return first }
        let all = try split.shortCaptions(at: index)
        return all[ShortCaptionChoice.index(seed: seed, epoch: epoch, sample: index, count: all.count)]
    }

    /// The images of `indices` as the encoder's input: CLIP-normalised at the split's one size, or
    /// (any stored layout) through the Qwen2-VL processor, which smart-resizes each; with each
    /// stored image's identity (ImageIdentity) for duplicate masking.
    func encode(_ indices: [Int]) throws -> (pixels: [Float], grids: [PatchGrid], imageKeys: [UInt64]) {
        switch encoding {
        case .fixed(let normalization):
            guard let size = split.imageSize else {
                throw DatasetError(file: split.name, "stores \(split.layout.imagesPhrase); this model takes one fixed image size")
            }
            let perImage = size * size * 3
            if imageBytes.count < indices.count * perImage { imageBytes = Array(repeating: 0, count: indices.count * perImage) }
            try imageBytes.withUnsafeMutableBufferPointer { try split.readImages(indices: indices, into: $0.baseAddress!) }
            var pixels = [Float](repeating: 0, count: indices.count * perImage)
            let keys = imageBytes.withUnsafeBufferPointer { bytes in
                pixels.withUnsafeMutableBufferPointer { out in
                    (0..<indices.count).map { k in
                        normalization.apply(bytes.baseAddress! + k * perImage, size: size, into: out.baseAddress! + k * perImage)
                        return ImageIdentity.key(UnsafeBufferPointer(rebasing: bytes[(k * perImage)..<((k + 1) * perImage)]),
                                                 width: size, height: size)
                    }
                }
            }
            return (pixels, [], keys)
        case .ownSize(let processor):
            var pixels: [Float] = [], grids: [PatchGrid] = [], keys: [UInt64] = []
            for (image, index) in zip(try split.images(at: indices), indices) {
                let values = try processor.preprocess(image, source: "\(split.name) sample \(index)")
                pixels += values.values
                grids.append(PatchGrid(rows: values.grid.height, columns: values.grid.width))
                keys.append(image.pixels.withUnsafeBufferPointer { ImageIdentity.key($0, width: image.width, height: image.height) })
            }
            return (pixels, grids, keys)
        }
    }
}
