/// What the prompt assembly needs from a tokenizer (Formats.Tokenizer conforms).
public protocol TextEncoding: Sendable {
    /// Token ids of `text`; with special tokens the post-processor's BOS comes first.
    func encodeIDs(_ text: String, addSpecialTokens: Bool) throws -> [Int32]
}

/// Prompt templates (configuration, not code). The defaults are E5-V's wording.
public struct PromptTemplates: Sendable, Equatable {
    public static let imagePlaceholder = "<image>"
    public static let textPlaceholder = "<sent>"
    public var image: String
    public var text: String

    public init(image: String = "<image>\nSummary above image in one word:",
                text: String = "<sent>\nSummary above sentence in one word:") {
        self.image = image
        self.text = text
    }
}

/// Turns images and captions into LLM input sequences, as docs/method.md section 2 describes:
///   image: the image template with `<image>` written as the family's image markup (LLaVA:
///          `<image>`; Qwen2-VL: `<|vision_start|><|image_pad|><|vision_end|>`), tokenised as a
///          whole (with BOS where the tokenizer's post-processor adds one), the one image token
///          expanded to one position per visual feature; an optional long caption (+ EOS)
///          follows for the next-token loss.
///   text:  the text template with `<sent>` replaced by the caption, tokenised as a whole.
/// With soft prompts, the positions of the template text after the image markup or the caption
/// (the "suffix") take the trainable rows instead of token embeddings (docs/model.md).
public struct PromptBuilder: Sendable {
    public let templates: PromptTemplates
    public let imageTokenID: Int32
    public let eosTokenID: Int32
    /// Positions of an image of the encoder's fixed size (`imageItem(imageIndex:)`); images of
    /// their own sizes pass their count to `imageItem(firstFeature:tokens:)`.
    public let imageTokens: Int
    public let maxPositions: Int
    /// encode(image template with the markup), with the single image id still unexpanded.
    public let imagePromptIDs: [Int32]
    /// Ids of the image template after the image markup: the image soft prompt's length and initial value.
    public let imageSuffixIDs: [Int32]
    /// Ids the text template adds after the caption: the text soft prompt's length and initial value.
    public let textSuffixIDs: [Int32]
    let encoder: any TextEncoding

    public init(encoder: any TextEncoding, templates: PromptTemplates, imageTokenID: Int, eosTokenID: Int,
                imageTokens: Int, maxPositions: Int, imageMarkup: String = PromptTemplates.imagePlaceholder) throws {
        for (name, template, placeholder) in [("image", templates.image, PromptTemplates.imagePlaceholder),
                                              ("text", templates.text, PromptTemplates.textPlaceholder)] {
            let occurrences = template.components(separatedBy: placeholder).count - 1
            guard occurrences == 1 else {
                throw PromptError("prompts.\(name) must contain \(placeholder) exactly once; it contains it \(occurrences) times: \(template.debugDescription)")
            }
        }
        self.encoder = encoder
        self.templates = templates
        self.imageTokenID = Int32(imageTokenID)
        self.eosTokenID = Int32(eosTokenID)
        self.imageTokens = imageTokens
        self.maxPositions = maxPositions
        let marked = templates.image.replacingOccurrences(of: PromptTemplates.imagePlaceholder, with: imageMarkup)
        imagePromptIDs = try encoder.encodeIDs(marked, addSpecialTokens: true)
        let markupIDs = try encoder.encodeIDs(imageMarkup, addSpecialTokens: false)
        guard let imageAt = imagePromptIDs.firstIndex(of: Int32(imageTokenID)),
              imagePromptIDs.filter({ $0 == Int32(imageTokenID) }).count == 1,
              let markupAt = markupIDs.firstIndex(of: Int32(imageTokenID)), imageAt >= markupAt,
              imagePromptIDs.dropFirst(imageAt - markupAt).starts(with: markupIDs) else {
            throw PromptError("the tokenizer does not turn <image> in prompts.image (written \(imageMarkup.debugDescription)) into the model's image token \(imageTokenID) exactly once; are the markup's tokens added tokens of tokenizer.json?")
        }
        imageSuffixIDs = Array(imagePromptIDs[(imageAt - markupAt + markupIDs.count)...])
        // The suffix the text template adds after a caption, found with a one-word probe caption:
        // tokenising the template as a whole can merge or split differently right after a special
        // token, so the `<image>` trick above would not give the ids that follow real captions.
        let probe = "a"
        let probed = try encoder.encodeIDs(Self.fill(templates.text, probe), addSpecialTokens: true)
        let head = templates.text.components(separatedBy: PromptTemplates.textPlaceholder)[0]
        let prefix = try encoder.encodeIDs(head + probe, addSpecialTokens: true)
        guard probed.starts(with: prefix) else {
            throw PromptError("prompts.text: the caption's tokens merge with the template text after <sent>; start the template text after <sent> with a space or newline.")
        }
        textSuffixIDs = Array(probed[prefix.count...])
    }

    static func fill(_ template: String, _ caption: String) -> String {
        template.replacingOccurrences(of: PromptTemplates.textPlaceholder, with: caption)
    }

    /// Image `imageIndex`'s sequence; with `longCaption`, followed by the caption and EOS with
    /// next-token targets (the summary position predicts the first caption token). The pool index
    /// is the summary position either way.
    public func imageItem(imageIndex: Int, softPrompt: Bool, longCaption: String? = nil) throws -> (item: SequenceBatch.Item, poolIndex: Int) {
        try imageItem(firstFeature: imageIndex * imageTokens, tokens: imageTokens, softPrompt: softPrompt, longCaption: longCaption)
    }

    /// The same for an image whose `tokens` feature rows start at row `firstFeature` of the
    /// batch's image features (images of different sizes).
    public func imageItem(firstFeature: Int, tokens: Int, softPrompt: Bool, longCaption: String? = nil) throws -> (item: SequenceBatch.Item, poolIndex: Int) {
        var item = SequenceBatch.Item()
        let suffixStart = imagePromptIDs.count - imageSuffixIDs.count
        for (position, id) in imagePromptIDs.enumerated() {
            if id == imageTokenID {
                for j in 0..<tokens { item.append(.image, Int32(firstFeature + j)) }
            } else if softPrompt && position >= suffixStart {
                item.append(.imagePrompt, Int32(position - suffixStart))
            } else {
                item.append(.token, id)
            }
        }
        let poolIndex = item.count - 1
        if let longCaption {
            let caption = try encoder.encodeIDs(longCaption, addSpecialTokens: false) + [eosTokenID]
            item.targets[poolIndex] = caption[0]
            for (i, id) in caption.enumerated() {
                item.append(.token, id, target: i + 1 < caption.count ? caption[i + 1] : -100)
            }
        }
        try checkLength(item.count, what: "image prompt" + (longCaption == nil ? "" : " with its long caption"))
        return (item, poolIndex)
    }

    /// A caption's sequence, pooled at its last position.
    public func textItem(caption: String, softPrompt: Bool) throws -> SequenceBatch.Item {
        var ids = try encoder.encodeIDs(Self.fill(templates.text, caption), addSpecialTokens: true)
        if softPrompt && !ids.ends(with: textSuffixIDs) {
            // Rare: the caption's last characters merged with the template text. Keep the soft
            // prompt's positions exact by tokenising the two parts separately.
            let head = templates.text.components(separatedBy: PromptTemplates.textPlaceholder)[0]
            ids = try encoder.encodeIDs(head + caption, addSpecialTokens: true) + textSuffixIDs
        }
        var item = SequenceBatch.Item()
        let suffixStart = ids.count - textSuffixIDs.count
        for (position, id) in ids.enumerated() {
            if softPrompt && position >= suffixStart {
                item.append(.textPrompt, Int32(position - suffixStart))
            } else {
                item.append(.token, id)
            }
        }
        try checkLength(item.count, what: "caption")
        return item
    }

    func checkLength(_ length: Int, what: String) throws {
        guard length <= maxPositions else {
            throw PromptError("a \(what) needs \(length) positions, more than the model's max_position_embeddings (\(maxPositions)); shorten it.")
        }
    }
}

public struct PromptError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Array where Element: Equatable {
    func ends(with suffix: [Element]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
