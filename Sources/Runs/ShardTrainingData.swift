import Configuration
import Datasets
import Training

/// Training batches from a data set's split: the deterministic order of BatchOrder, images
/// normalised for the vision tower, captions as stored.
package final class ShardTrainingData: TrainingData {
    package let split: DatasetSplit
    let seed: UInt64
    let normalization: PixelNormalization
    /// Hard negative captions to read per pair (loss.hard_negatives; 0 = none).
    let hardNegatives: Int
    var epochOrder: EpochOrder?
    var order: BatchOrder?
    var imageBytes: [UInt8] = []

    package init(split: DatasetSplit, seed: UInt64, hardNegatives: Int = 0, normalization: PixelNormalization = .clip) {
        self.split = split
        self.seed = seed
        self.hardNegatives = hardNegatives
        self.normalization = normalization
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
        guard let size = split.imageSize else {
            throw DatasetError(file: split.name, "stores images at \(split.layout); this data path feeds fixed-size images only")
        }
        let perImage = size * size * 3
        if imageBytes.count < indices.count * perImage { imageBytes = Array(repeating: 0, count: indices.count * perImage) }
        try imageBytes.withUnsafeMutableBufferPointer { try split.readImages(indices: indices, into: $0.baseAddress!) }
        var pixels = [Float](repeating: 0, count: indices.count * perImage)
        imageBytes.withUnsafeBufferPointer { bytes in
            pixels.withUnsafeMutableBufferPointer { out in
                for k in 0..<indices.count { normalization.apply(bytes.baseAddress! + k * perImage, size: size, into: out.baseAddress! + k * perImage) }
            }
        }
        var shorts: [String?] = [], longs: [String?] = [], negatives: [String?] = []
        for index in indices {
            let captions = try split.captions(at: index)
            shorts.append(captions.short)
            longs.append(captions.long)
            if hardNegatives > 0 {
                let found = try split.hardNegatives(at: index, limit: hardNegatives)
                negatives += found.map(Optional.some) + [String?](repeating: nil, count: hardNegatives - found.count)
            }
        }
        return TrainingBatch(pixels: pixels, shortCaptions: shorts, longCaptions: longs, negativeCaptions: negatives,
                             negativesPerPair: hardNegatives, globalOffset: positions.lowerBound)
    }
}
