import Kernels

/// SugarCrepe-style hard negatives: a small edit of the positive short caption that the scene
/// graph confirms FALSE. Examples for the positive "a red circle left of a blue square"
/// (in a scene holding only those two objects):
///   replace_attribute  "a green circle left of a blue square"  (one colour -> another colour)
///   swap_attributes    "a blue circle left of a red square"    (the two colours exchanged)
///   swap_objects       "a red square left of a blue circle"    (the two shapes exchanged, colours stay)
///   replace_relation   "a red circle right of a blue square"   (relation -> one that is false,
///                                                              possibly on the other axis: "above")
/// With size wording, sizes stay with their colour ("a small red square left of a large blue circle").
package enum HardNegativeType: String, CaseIterable, Sendable, Hashable {
    case replaceAttribute = "replace_attribute"
    case swapAttributes = "swap_attributes"
    case swapObjects = "swap_objects"
    case replaceRelation = "replace_relation"
}

extension SyntheticScene {
    /// A hard negative of `type` for `positive`, or nil when no edit of that type is false
    /// here (e.g. swapping two equal colours). The choice among valid edits uses `random`.
    package func hardNegative(_ type: HardNegativeType, of positive: RelationCaption, colours: [SyntheticColour],
                             random: inout Xoshiro256) -> RelationCaption? {
        var candidates: [RelationCaption] = []
        switch type {
        case .replaceAttribute:
            for colour in colours where colour != positive.subject.colour {
                var edit = positive
                edit.subject.colour = colour
                candidates.append(edit)
            }
            for colour in colours where colour != positive.object.colour {
                var edit = positive
                edit.object.colour = colour
                candidates.append(edit)
            }
        case .swapAttributes:
            var edit = positive
            swap(&edit.subject.colour, &edit.object.colour)
            candidates.append(edit)
        case .swapObjects:
            var edit = positive
            swap(&edit.subject.shape, &edit.object.shape)
            candidates.append(edit)
        case .replaceRelation:
            for relation in SpatialRelation.allCases where relation != positive.relation {
                var edit = positive
                edit.relation = relation
                candidates.append(edit)
            }
        }
        // A valid negative is false by the scene graph, and neither the positive nor its
        // converse in other words (both of which are true, so the truth test already excludes
        // them; the text checks keep that obvious).
        let valid = candidates.filter { edit in
            edit.text != positive.text && edit.text != positive.converse.text && truth(of: edit) == .isFalse
        }
        guard !valid.isEmpty else { return nil }
        return valid[Int(random.next() % UInt64(valid.count))]
    }

    /// One negative of every type, or nil when some type has none.
    package func allHardNegatives(of positive: RelationCaption, colours: [SyntheticColour],
                                 random: inout Xoshiro256) -> [HardNegativeType: RelationCaption]? {
        var negatives: [HardNegativeType: RelationCaption] = [:]
        for type in HardNegativeType.allCases {
            guard let negative = hardNegative(type, of: positive, colours: colours, random: &random) else { return nil }
            negatives[type] = negative
        }
        return negatives
    }
}
