/// The scene graph of Discern's synthetic compositional data: coloured shapes with sizes and
/// positions. Captions are checked against it, so every caption and hard negative has a truth
/// value computed from geometry, never assumed.

/// Shapes chosen to stay distinguishable at 32 x 32 pixels (a small object is ~8 px across).
package enum SyntheticShape: String, CaseIterable, Sendable, Hashable {
    case circle, square, triangle, cross, ring, diamond
}

/// Colours far apart in RGB (and in name), readable on the dark background.
package enum SyntheticColour: String, CaseIterable, Sendable, Hashable {
    case red, green, blue, yellow, purple, orange, cyan, white

    package var rgb: (red: UInt8, green: UInt8, blue: UInt8) {
        switch self {
        case .red: (225, 35, 35)
        case .green: (40, 190, 50)
        case .blue: (45, 95, 245)
        case .yellow: (245, 225, 35)
        case .purple: (175, 60, 230)
        case .orange: (250, 135, 20)
        case .cyan: (40, 225, 230)
        case .white: (245, 245, 245)
        }
    }
}

package enum SyntheticSize: String, CaseIterable, Sendable, Hashable {
    case small, large
}

/// Spatial relations between two objects, as the captions word them.
package enum SpatialRelation: String, CaseIterable, Sendable, Hashable {
    case leftOf = "left of", rightOf = "right of", above, below

    /// The relation with subject and object exchanged ("A left of B" = "B right of A").
    package var converse: SpatialRelation {
        switch self {
        case .leftOf: .rightOf
        case .rightOf: .leftOf
        case .above: .below
        case .below: .above
        }
    }
}

/// Three-valued truth: a caption can be clearly true, clearly false, or too close to call
/// (such captions are never used as positives or negatives).
package enum CaptionTruth: Sendable, Equatable {
    case isTrue, isFalse, ambiguous
}

/// One object. Coordinates are fractions of the image side, x to the right, y downwards;
/// `radius` is half the object's bounding-box side.
package struct SyntheticObject: Sendable, Equatable {
    package var shape: SyntheticShape
    package var colour: SyntheticColour
    package var size: SyntheticSize
    package var x: Double
    package var y: Double
    package var radius: Double

    package init(shape: SyntheticShape, colour: SyntheticColour, size: SyntheticSize, x: Double, y: Double, radius: Double) {
        self.shape = shape
        self.colour = colour
        self.size = size
        self.x = x
        self.y = y
        self.radius = radius
    }
}

package struct SyntheticScene: Sendable, Equatable {
    package var objects: [SyntheticObject]
    /// Seeds the background noise, so rendering is a pure function of the scene.
    package var noiseSeed: UInt64
    /// Least gap (fraction of the image side) between two objects' extents for a relation to
    /// count as clearly true.
    package var relationMargin: Double

    package init(objects: [SyntheticObject], noiseSeed: UInt64, relationMargin: Double) {
        self.objects = objects
        self.noiseSeed = noiseSeed
        self.relationMargin = relationMargin
    }

    /// "a `relation` b": TRUE when the two bounding boxes are separated along the relation's
    /// axis by at least the margin, in its direction (so "left of" means entirely left of);
    /// FALSE when a's centre is not at all in that direction (same line or beyond); otherwise
    /// ambiguous (e.g. a is left of b but the boxes overlap horizontally).
    package func truth(_ a: SyntheticObject, _ relation: SpatialRelation, _ b: SyntheticObject) -> CaptionTruth {
        // Signed distance of the centres in the relation's direction.
        let delta: Double
        switch relation {
        case .leftOf: delta = b.x - a.x
        case .rightOf: delta = a.x - b.x
        case .above: delta = b.y - a.y
        case .below: delta = a.y - b.y
        }
        if delta - a.radius - b.radius >= relationMargin { return .isTrue }
        return delta <= 0 ? .isFalse : .ambiguous
    }

    /// Whether some object fits `phrase` (its size only checked when the phrase names one).
    func matches(_ phrase: ObjectPhrase, _ object: SyntheticObject) -> Bool {
        object.colour == phrase.colour && object.shape == phrase.shape && (phrase.size == nil || phrase.size == object.size)
    }

    /// A relation caption is TRUE when some pair of distinct objects fitting its two phrases
    /// stands in the relation; FALSE when every fitting pair (possibly none) clearly does not.
    package func truth(of caption: RelationCaption) -> CaptionTruth {
        var sawAmbiguous = false
        for (i, a) in objects.enumerated() where matches(caption.subject, a) {
            for (j, b) in objects.enumerated() where j != i && matches(caption.object, b) {
                switch truth(a, caption.relation, b) {
                case .isTrue: return .isTrue
                case .ambiguous: sawAmbiguous = true
                case .isFalse: break
                }
            }
        }
        return sawAmbiguous ? .ambiguous : .isFalse
    }
}

/// "a small red circle": the noun phrase of one object. `size` is nil when the wording leaves
/// sizes out.
package struct ObjectPhrase: Sendable, Hashable {
    package var colour: SyntheticColour
    package var shape: SyntheticShape
    package var size: SyntheticSize?

    package init(colour: SyntheticColour, shape: SyntheticShape, size: SyntheticSize?) {
        self.colour = colour
        self.shape = shape
        self.size = size
    }

    package init(_ object: SyntheticObject, withSize: Bool) {
        self.init(colour: object.colour, shape: object.shape, size: withSize ? object.size : nil)
    }

    /// "a red circle", "an orange ring", "a large blue square".
    package var text: String {
        let words = [size?.rawValue, colour.rawValue, shape.rawValue].compactMap { $0 }
        return (startsWithVowel(words[0]) ? "an " : "a ") + words.joined(separator: " ")
    }
}

/// A short caption: subject, relation, object ("a red circle left of a blue square").
package struct RelationCaption: Sendable, Hashable {
    package var subject: ObjectPhrase
    package var relation: SpatialRelation
    package var object: ObjectPhrase

    package init(subject: ObjectPhrase, relation: SpatialRelation, object: ObjectPhrase) {
        self.subject = subject
        self.relation = relation
        self.object = object
    }

    package var text: String { "\(subject.text) \(relation.rawValue) \(object.text)" }

    /// The same fact said the other way round ("a blue square right of a red circle").
    package var converse: RelationCaption { RelationCaption(subject: object, relation: relation.converse, object: subject) }

    /// The caption in `wording`; `text` is the subject-first form.
    package func text(_ wording: CaptionWording) -> String {
        switch wording {
        case .subjectFirst: text
        case .relationFirst: "\(relation.rawValue) \(object.text) is \(subject.text)"
        }
    }
}

/// How short captions and their hard negatives are worded; the scene, the split and every choice of
/// caption are the same in both (they go by the subject-first text).
package enum CaptionWording: String, Sendable, CaseIterable {
    /// "a red circle left of a blue square".
    case subjectFirst = "subject-first"
    /// "left of a blue square is a red circle". Why: a generative model trained on two-object
    /// subject-first captions never needs the relation word as an input (the words after it name
    /// the one object left, whatever it says), so it learns to ignore it, and a summary embedding
    /// of the caption then barely changes with the relation (docs/results.md). Relation first, the
    /// next words must name the object the relation points at, so the word is read.
    case relationFirst = "relation-first"
}

func startsWithVowel(_ word: String) -> Bool {
    guard let first = word.first else { return false }
    return "aeiou".contains(first)
}
