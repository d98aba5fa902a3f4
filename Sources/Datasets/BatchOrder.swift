import Kernels

/// The training order: a pure function of (seed, epoch, step, rank, world size), so resuming
/// needs only the step counter and the global batches do not depend on how many ranks run them.
///
/// Epoch e visits the samples in the permutation `permutation(epoch: e)` (Fisher-Yates driven by
/// Xoshiro256 seeded from (seed, e)). Step s of the epoch is the global batch at positions
/// [s*B, (s+1)*B) of it; rank r of W takes positions [r*B/W, (r+1)*B/W) of that batch (BatchSplit). An epoch
/// has floor(count / B) steps: the count % B samples left at the end of each permutation are
/// skipped that epoch (a different set each epoch), so every batch is full.
package struct BatchOrder: Sendable, Equatable {
    package let sampleCount: Int
    package let globalBatchSize: Int
    package let seed: UInt64

    package init(sampleCount: Int, globalBatchSize: Int, seed: UInt64) throws {
        guard globalBatchSize > 0 else {
            throw BatchOrderError("the global batch size is \(globalBatchSize); it must be positive")
        }
        guard sampleCount >= globalBatchSize else {
            throw BatchOrderError("the split has \(sampleCount) samples, fewer than one global batch of "
                                  + "\(globalBatchSize); lower the batch size or add data")
        }
        self.sampleCount = sampleCount
        self.globalBatchSize = globalBatchSize
        self.seed = seed
    }

    /// floor(sampleCount / globalBatchSize).
    package var stepsPerEpoch: Int { sampleCount / globalBatchSize }

    /// Where global step `globalStep` (counted from 0 over the whole run) falls.
    package func cursor(globalStep: Int) -> BatchCursor {
        precondition(globalStep >= 0, "BatchOrder: negative global step \(globalStep)")
        return BatchCursor(epoch: globalStep / stepsPerEpoch, stepInEpoch: globalStep % stepsPerEpoch)
    }

    package func globalStep(_ cursor: BatchCursor) -> Int { cursor.epoch * stepsPerEpoch + cursor.stepInEpoch }

    /// The order of all samples in `epoch`. O(sampleCount): compute once per epoch (`EpochOrder`).
    package func permutation(epoch: Int) -> [Int] {
        var generator = Xoshiro256(seed: Self.epochSeed(seed: seed, epoch: epoch))
        var order = Array(0..<sampleCount)
        order.withUnsafeMutableBufferPointer { order in
            var i = order.count - 1
            while i > 0 {
                // j uniform in 0...i: the high word of a 64x64-bit product (Lemire), whose bias
                // (< (i+1) / 2^64) is far below anything measurable; simple to reproduce elsewhere.
                let j = Int(generator.next().multipliedFullWidth(by: UInt64(i + 1)).high)
                order.swapAt(i, j)
                i -= 1
            }
        }
        return order
    }

    package func epochOrder(_ epoch: Int) -> EpochOrder {
        EpochOrder(epoch: epoch, globalBatchSize: globalBatchSize, permutation: permutation(epoch: epoch))
    }

    /// SplitMix64 finaliser of seed and epoch: neighbouring epochs get unrelated streams.
    package static func epochSeed(seed: UInt64, epoch: Int) -> UInt64 {
        mix(seed ^ mix(UInt64(bitPattern: Int64(epoch))))
    }

    /// SplitMix64's finaliser: a bijection of 64-bit words that scatters neighbouring inputs.
    package static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Splits `range` into consecutive chunks of `size` (the last one shorter when size does not
    /// divide it): the micro-batches of gradient caching.
    package static func microBatches(_ range: Range<Int>, size: Int) -> [Range<Int>] {
        precondition(size > 0, "BatchOrder.microBatches: size \(size) must be positive")
        return stride(from: range.lowerBound, to: range.upperBound, by: size).map {
            $0..<min($0 + size, range.upperBound)
        }
    }
}

/// Position in the run: `stepInEpoch` counts from 0 within `epoch`.
package struct BatchCursor: Sendable, Equatable, Hashable {
    package var epoch: Int
    package var stepInEpoch: Int

    package init(epoch: Int, stepInEpoch: Int) {
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
    }
}

/// One epoch's permutation, cut into batches. Keep it for the epoch; make the next at its end.
package struct EpochOrder: Sendable {
    package let epoch: Int
    package let globalBatchSize: Int
    package let permutation: [Int]

    package var steps: Int { permutation.count / globalBatchSize }

    /// Sample indices of global batch `step`.
    package func globalBatch(step: Int) -> ArraySlice<Int> {
        precondition(step >= 0 && step < steps, "EpochOrder: step \(step) outside 0..<\(steps)")
        return permutation[(step * globalBatchSize)..<((step + 1) * globalBatchSize)]
    }

    /// The part of global batch `step` at `positions` (a rank's share: BatchSplit.positions).
    package func rankBatch(step: Int, positions: Range<Int>) -> ArraySlice<Int> {
        precondition(positions.lowerBound >= 0 && positions.upperBound <= globalBatchSize,
                     "EpochOrder: positions \(positions) outside a batch of \(globalBatchSize)")
        let batch = globalBatch(step: step)
        return batch[(batch.startIndex + positions.lowerBound)..<(batch.startIndex + positions.upperBound)]
    }
}

package struct BatchOrderError: Error, CustomStringConvertible, Equatable, Sendable {
    package let description: String
    package init(_ description: String) { self.description = description }
}
