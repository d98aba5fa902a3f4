import Layers

/// The keys duplicate masking compares (`loss.mask_duplicates`, ContrastiveLoss): per pair its
/// image identity and the key of its short caption, as (B, 2) words gathered from every rank.
package enum DuplicateKeys {
    /// A caption's key: FNV-1a of its text lowercased, with every run of whitespace made one
    /// space and none at either end, so "A red  circle" and "a red circle " are the same caption.
    package static func caption(_ text: String) -> UInt64 {
        stableHash(text.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " "))
    }

    /// (count, 2): image key, caption key of each local pair. A pair without an image key (the
    /// batch knows none) or without a caption gets a key made from its global position, which
    /// no other pair of the batch has.
    package static func local(_ batch: TrainingBatch) -> [UInt64] {
        var keys: [UInt64] = []
        keys.reserveCapacity(2 * batch.count)
        for i in 0..<batch.count {
            let unique = mixBits(UInt64(batch.globalOffset + i) ^ 0xD0B1_1CA7_E5EE_D5A1)
            keys.append(batch.imageKeys.isEmpty ? unique : batch.imageKeys[i])
            keys.append(batch.shortCaptions[i].map(caption) ?? unique)
        }
        return keys
    }
}
