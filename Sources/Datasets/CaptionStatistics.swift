/// What a split's captions look like, stored in dataset.json so a data set can be judged
/// without reading it (the paper keeps short captions under ~30 tokens, long ones 30-500).
package struct CaptionStatistics: Codable, Equatable, Sendable {
    package var short: CaptionLengths
    package var long: CaptionLengths
    /// Samples that have both a short and a long caption.
    package var withBoth: Int
    /// Samples carrying a negative of each type.
    package var negatives: [String: Int]
    /// Short captions beyond each sample's first (several per image; `short` describes the
    /// first ones). Absent when there are none, so single-caption splits read as they always did.
    package var moreShort: Int?

    enum CodingKeys: String, CodingKey {
        case short, long, withBoth = "with_both", negatives, moreShort = "more_short"
    }

    package init(short: CaptionLengths = .init(), long: CaptionLengths = .init(), withBoth: Int = 0,
                negatives: [String: Int] = [:]) {
        self.short = short
        self.long = long
        self.withBoth = withBoth
        self.negatives = negatives
    }

    /// Counts one sample's captions.
    mutating func add(_ sample: Sample) {
        // "" counts as absent, as in the shards.
        let shortText = sample.short.flatMap { $0.isEmpty ? nil : $0 }
        let longText = sample.long.flatMap { $0.isEmpty ? nil : $0 }
        if let shortText { short.add(shortText) }
        if let longText { long.add(longText) }
        if shortText != nil && longText != nil { withBoth += 1 }
        for (type, text) in sample.negatives where !text.isEmpty { negatives[type, default: 0] += 1 }
        if sample.shortCaptions.count > 1 { moreShort = (moreShort ?? 0) + sample.shortCaptions.count - 1 }
    }
}

/// Lengths of one kind of caption, in whitespace-separated words (a tokenizer-free proxy for
/// tokens) and in characters (Unicode scalars).
package struct CaptionLengths: Codable, Equatable, Sendable {
    /// Samples that have this caption.
    package var count = 0
    package var totalWords = 0
    /// totalWords / count, rounded to 0.01 so the JSON stays short and identical everywhere.
    package var meanWords = 0.0
    package var maxWords = 0
    package var maxCharacters = 0

    enum CodingKeys: String, CodingKey {
        case count, totalWords = "total_words", meanWords = "mean_words", maxWords = "max_words"
        case maxCharacters = "max_characters"
    }

    package init() {}

    mutating func add(_ text: String) {
        var words = 0, inWord = false, characters = 0
        for scalar in text.unicodeScalars {
            characters += 1
            let space = scalar.properties.isWhitespace
            if !space && !inWord { words += 1 }
            inWord = !space
        }
        count += 1
        totalWords += words
        maxWords = max(maxWords, words)
        maxCharacters = max(maxCharacters, characters)
        meanWords = (Double(totalWords) / Double(count) * 100).rounded() / 100
    }
}
