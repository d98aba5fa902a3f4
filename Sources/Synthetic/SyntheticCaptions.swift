/// Caption wording of the synthetic data set. Everything is lower case, words from
/// `SyntheticVocabulary` separated by single spaces, with "," and "." attached to the word
/// before them, so a tokenizer built for the vocabulary needs no byte fallback.

/// Every word and punctuation mark the captions can use.
package enum SyntheticVocabulary {
    static let numbers = ["two", "three", "four"]
    static let captionWords = ["a", "an", "the", "image", "shows", "shapes", "on", "dark", "background", "there", "is",
                               "in", "top", "bottom", "left", "right", "corner", "at", "center", "and", "of", "above",
                               "below"]

    /// Words, in a fixed order: caption words, number words, sizes, colours, shapes.
    package static let words: [String] = {
        var all = captionWords + numbers
        all += SyntheticSize.allCases.map(\.rawValue)
        all += SyntheticColour.allCases.map(\.rawValue)
        all += SyntheticShape.allCases.map(\.rawValue)
        // Relation wordings ("left of", "above") are made of the words above.
        var seen = Set<String>()
        return all.filter { seen.insert($0).inserted }
    }()

    /// Punctuation that follows a word directly ("corner," "square.").
    package static let punctuation: [String] = [",", "."]

    /// Most objects a scene may hold (the number words in the long caption stop at four).
    package static let maxObjects = 4
}

/// Where an object sits, on a 3 x 3 grid of the image.
package enum ImageRegion: String, Sendable, CaseIterable {
    case topLeft = "in the top left corner", top = "at the top", topRight = "in the top right corner"
    case left = "on the left", center = "in the center", right = "on the right"
    case bottomLeft = "in the bottom left corner", bottom = "at the bottom", bottomRight = "in the bottom right corner"

    package init(x: Double, y: Double) {
        let column = x < 1.0 / 3 ? 0 : (x < 2.0 / 3 ? 1 : 2)
        let row = y < 1.0 / 3 ? 0 : (y < 2.0 / 3 ? 1 : 2)
        self = Self.allCases[row * 3 + column]
    }
}

extension SyntheticScene {
    /// Every relation caption clearly true of this scene (ordered pairs of distinct objects).
    package func trueRelationCaptions(withSizes: Bool) -> [RelationCaption] {
        var captions: [RelationCaption] = []
        for (i, a) in objects.enumerated() {
            for (j, b) in objects.enumerated() where j != i {
                for relation in SpatialRelation.allCases where truth(a, relation, b) == .isTrue {
                    let caption = RelationCaption(subject: ObjectPhrase(a, withSize: withSizes), relation: relation,
                                                  object: ObjectPhrase(b, withSize: withSizes))
                    // With repeated attributes a caption could fit another pair as well; it is
                    // still true, but keep only captions whose truth the scene graph confirms.
                    if truth(of: caption) == .isTrue { captions.append(caption) }
                }
            }
        }
        return captions
    }

    /// The long caption: every object with size, colour, shape and place, then one true
    /// relation between each consecutive pair. Example (2 objects, 40 words and marks):
    /// "the image shows two shapes on a dark background. there is a large red circle in the top
    ///  left corner and a small blue square at the bottom. the red circle is above the blue square."
    package var longCaption: String {
        let count = SyntheticVocabulary.numbers[max(0, min(objects.count - 2, SyntheticVocabulary.numbers.count - 1))]
        var text = "the image shows \(count) shapes on a dark background. there is "
        let phrases = objects.map { object in
            "\(ObjectPhrase(object, withSize: true).text) \(ImageRegion(x: object.x, y: object.y).rawValue)"
        }
        text += listed(phrases) + "."
        var relations: [String] = []
        for k in 0..<(objects.count - 1) {
            let a = objects[k], b = objects[k + 1]
            // The first clearly true relation in a fixed order; every placed pair has one.
            guard let relation = SpatialRelation.allCases.first(where: { truth(a, $0, b) == .isTrue }) else { continue }
            relations.append("the \(a.colour.rawValue) \(a.shape.rawValue) is \(relation.rawValue) the \(b.colour.rawValue) \(b.shape.rawValue)")
        }
        if !relations.isEmpty { text += " " + listed(relations) + "." }
        return text
    }
}

/// "x", "x and y", "x, y and z".
func listed(_ items: [String]) -> String {
    guard items.count > 1 else { return items.first ?? "" }
    return items.dropLast().joined(separator: ", ") + " and " + items[items.count - 1]
}
