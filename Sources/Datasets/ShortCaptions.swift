/// The rules for a sample's list of short captions, shared by every importer (a manifest line's
/// `"short": [...]`, a webdataset sample's captions) and by `ShardWriter`, so a list that one
/// feeder would refuse cannot reach the shards through another.
package enum ShortCaptionRules {
    /// At most this many short captions per image (COCO has 5; web corpora with several
    /// alt-texts a few more). A longer list is more likely a wrong field than captions.
    package static let maxCount = 64
    /// At most this many characters (Unicode scalars) per short caption: short captions feed the
    /// contrastive loss and the paper keeps them under ~30 tokens, so a caption of thousands of
    /// characters is a long caption in the wrong field.
    package static let maxCharacters = 1000

    /// What is wrong with `captions` as one image's short captions, or nil when they are fine:
    /// not empty (an image without short captions has an empty list only when absent), at most
    /// `maxCount`, each non-empty, without NUL and at most `maxCharacters` long.
    package static func problem(_ captions: [String]) -> String? {
        if captions.isEmpty { return "the list of short captions is empty; give at least one caption or leave the field out" }
        if captions.count > maxCount {
            return "\(captions.count) short captions; at most \(maxCount) per image are accepted"
        }
        for (index, caption) in captions.enumerated() {
            if caption.isEmpty { return "short caption [\(index)] is empty" }
            if caption.utf8.contains(0) { return "short caption [\(index)] contains a NUL character" }
            let characters = caption.unicodeScalars.count
            if characters > maxCharacters {
                return "short caption [\(index)] has \(characters) characters; at most \(maxCharacters) are accepted "
                    + "(a long caption belongs in \"long\")"
            }
        }
        return nil
    }
}

/// Which of a sample's short captions a training step uses: a pure function of (seed, epoch,
/// sample index), so a resumed run and any number of ranks pick the same one. Each sample
/// starts at its own caption, `mix(seed, sample) mod count`, and moves on by one per epoch: over
/// any `count` consecutive epochs every caption is used exactly once.
package enum ShortCaptionChoice {
    package static func index(seed: UInt64, epoch: Int, sample: Int, count: Int) -> Int {
        precondition(count > 0 && epoch >= 0 && sample >= 0, "ShortCaptionChoice: \(count) captions, epoch \(epoch), sample \(sample)")
        if count == 1 { return 0 }
        let start = BatchOrder.mix(seed ^ BatchOrder.mix(UInt64(sample) &+ 0x5DEE_CE66_D1CE_5EED)) % UInt64(count)
        return Int((start + UInt64(epoch) % UInt64(count)) % UInt64(count))
    }
}
