import Kernels
import RealModule

/// Symmetric InfoNCE over a global batch of N image/text pairs (CLIP's loss):
///   L = s * I T^T                           (N, N), s = exp(logitScale)
///   loss = (1 / 2N) * [ sum_i CE(L[i, :], i) + sum_j CE(L[:, j], j) ]
/// With hard negatives (NegCLIP): M more text rows H (each pair's false caption, gathered from
/// every rank like the texts) join the image rows' keys, L_i = s * I_i [T; H]^T, so an image must
/// prefer its own caption over every caption and every hard negative of the batch; the text
/// columns (queries: captions) are unchanged. The negatives are keys only, never queries.
///
/// False negatives masked (`loss.mask_duplicates`): given a key pair (image identity, caption
/// key) per pair, a key j of the global batch that shares either with query i (j != i: the same
/// image, or the same short caption after normalisation) leaves query i's softmax: it is not
/// counted as a negative, in neither direction. The query's own positive stays, so every
/// softmax keeps at least one key; hard negatives (keys N...) are never masked.
///
/// Distributed exactly (docs/method.md section 5): a rank owns the B pairs at rows
/// `offset ..< offset + B` of the gathered embeddings. It computes the loss terms of its own
/// image rows and its own text columns, and differentiates them with respect to ALL N gathered
/// embeddings; summing those full-size gradients over ranks (a reduce-scatter) gives every rank
/// the exact gradient of the global loss for its own rows. Keeping only the local slice of the
/// local gradient instead (a known bug) drops the terms other ranks contribute.
public final class ContrastiveLoss<T: KernelScalar>: @unchecked Sendable {
    var scores: [T] = []      // (B, N) scratch, one direction at a time
    public init() {}

    public struct Result: Sendable {
        /// This rank's share of the global loss (its rows' and columns' terms, already divided by 2N):
        /// summing it over ranks gives the loss.
        public var localLoss: Double
        /// d(localLoss)/d(logitScale).
        public var logitScaleGradient: Double
        /// (query, key) entries of this rank's rows and columns left out as duplicates.
        public var maskedKeys: Int = 0
    }

    /// images: (N, dim), texts: (N + negatives, dim) gathered, L2-normalised embeddings: the N
    /// captions, then the hard negatives (rows N..<N + negatives). The rank's pairs are rows
    /// offset..<offset+count. dImages (N, dim), dTexts (N + negatives, dim) += gradient of the
    /// local loss share. valid: (N + negatives), 0 for a pair without a short caption (it takes
    /// no part in the loss, neither as a query nor as a key, and the mean runs over the valid pairs
    /// only) or a missing hard negative. nil = all valid. duplicateKeys: (N, 2), each pair's
    /// image identity and caption key (see the type's documentation); nil = no masking.
    public func forwardBackward(
        images: UnsafePointer<T>, texts: UnsafePointer<T>, total: Int, negatives: Int = 0, dim: Int,
        offset: Int, count: Int, logitScale: T, valid: UnsafePointer<UInt8>? = nil,
        duplicateKeys: UnsafePointer<UInt64>? = nil,
        dImages: UnsafeMutablePointer<T>, dTexts: UnsafeMutablePointer<T>
    ) -> Result {
        precondition(offset >= 0 && count >= 0 && offset + count <= total && negatives >= 0,
                     "ContrastiveLoss: rows \(offset)..<\(offset + count) of \(total), \(negatives) negatives")
        let scale = T.exp(logitScale)
        let validCount = valid.map { v in (0..<total).reduce(0) { $0 + (v[$1] != 0 ? 1 : 0) } } ?? total
        func isValid(_ i: Int) -> Bool { valid.map { $0[i] != 0 } ?? true }
        if validCount == 0 { return Result(localLoss: 0, logitScaleGradient: 0) }
        if scores.count < count * (total + negatives) { scores = Array(repeating: 0, count: count * (total + negatives)) }
        /// Key j takes part in query `target`'s softmax: it exists and is not a duplicate.
        func isKey(_ j: Int, of target: Int) -> Bool {
            guard isValid(j) else { return false }
            guard let keys = duplicateKeys, j < total, j != target else { return true }
            return keys[2 * j] != keys[2 * target] && keys[2 * j + 1] != keys[2 * target + 1]
        }
        var loss = 0.0, scaleGradient = 0.0, masked = 0
        // Image rows (queries: own images, keys: all texts), then text columns (queries: own
        // texts, keys: all images): the same computation with the roles swapped.
        for direction in 0..<2 {   // a loop over two cases, not an array of them: no allocation per step
            let (queries, keys) = direction == 0 ? (images, texts) : (texts, images)
            let (dQueries, dKeys) = direction == 0 ? (dImages, dTexts) : (dTexts, dImages)
            let keyCount = direction == 0 ? total + negatives : total
            scores.withUnsafeMutableBufferPointer { buffer in
                let g = buffer.baseAddress!
                // g = s * Q_local K^T: (count, keyCount)
                gemm(transB: true, m: count, n: keyCount, k: dim, alpha: scale, queries + offset * dim, keys, g)
                let divisor = Double(2 * validCount)
                for r in 0..<count {
                    let row = g + r * keyCount, target = offset + r
                    guard isValid(target) else {
                        for j in 0..<keyCount { row[j] = 0 }
                        continue
                    }
                    var maximum = -T.infinity
                    for j in 0..<keyCount where isKey(j, of: target) { maximum = max(maximum, row[j]) }
                    var sum = 0.0
                    for j in 0..<keyCount where isKey(j, of: target) { sum += Double(T.exp(row[j] - maximum)) }
                    let logSumExp = Double(maximum) + Double.log(sum)
                    loss += (logSumExp - Double(row[target])) / divisor
                    // dloss/dlogit = (softmax - onehot) / 2N; dloss/dlogitScale = sum(dlogit * logit)
                    for j in 0..<keyCount {
                        guard isKey(j, of: target) else {
                            if isValid(j) { masked += 1 }
                            row[j] = 0
                            continue
                        }
                        let probability = Double.exp(Double(row[j]) - logSumExp)
                        let gradient = (probability - (j == target ? 1 : 0)) / divisor
                        scaleGradient += gradient * Double(row[j])
                        row[j] = T(gradient)
                    }
                }
                // logits = s * Q K^T  =>  dQ_local += s * G K,  dK += s * G^T Q_local
                gemm(m: count, n: dim, k: keyCount, alpha: scale, g, keys, beta: 1, dQueries + offset * dim)
                gemm(transA: true, m: keyCount, n: dim, k: count, alpha: scale, g, queries + offset * dim, beta: 1, dKeys)
            }
        }
        return Result(localLoss: loss, logitScaleGradient: scaleGradient, maskedKeys: masked)
    }
}
