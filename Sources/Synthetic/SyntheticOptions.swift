/// Settings of the synthetic data set. Equal options and seed give byte-identical data.
package struct SyntheticOptions: Sendable, Equatable {
    package var rendering: SyntheticRendering
    /// Objects per scene, drawn uniformly in minObjects...maxObjects (2...4).
    package var minObjects: Int
    package var maxObjects: Int
    /// The attribute sets scenes draw from. A scene never repeats a colour or a shape, so
    /// "the red circle" always names one object and every swap edit changes the caption.
    package var shapes: [SyntheticShape]
    package var colours: [SyntheticColour]
    /// The object sizes scenes draw from (each object picks one uniformly).
    package var sizes: [SyntheticSize]
    /// Short captions name sizes too ("a small red circle left of a large blue square").
    package var sizesInShortCaption: Bool
    /// Object box half-sides as fractions of the image side (0.12 and 0.2: about 8 and 13
    /// pixels across at 32 x 32).
    package var smallRadius: Double
    package var largeRadius: Double
    /// Least gap between two boxes along an axis for a relation to be clearly true
    /// (0.03 of the side: one pixel at 32 x 32).
    package var relationMargin: Double
    /// Cells per side of a placement grid, or nil for free placement. On a grid every object is
    /// aligned with the cells: a small one fills one cell (radius 1/(2 grid)), a large one a 2 x 2
    /// block of cells (radius 1/grid). With the grid equal to the vision tower's patch grid
    /// (image size / patch size), a small object is exactly one image token and a large one four
    /// (the embedded default: a tiny ViT then needs no shape assembly across patch borders).
    /// The radii and the margin above are then unused: `gridGap` says how far apart related
    /// objects are (by default objects in neighbouring cells count: their boxes touch, their shapes do not).
    package var grid: Int?
    /// On a grid: how many whole empty cells must lie between two objects along an axis for a
    /// relation between them to be clearly true (0: neighbouring cells already count). With 1,
    /// objects in neighbouring columns are neither left nor right of each other, so no caption or
    /// negative claims it, and each scene has every pair at least one cell apart on some axis.
    package var gridGap: Int
    /// Every pair of objects stands in exactly ONE clearly true relation (and its converse): no
    /// diagonal placements, so the two objects of a short caption determine its relation.
    package var singleRelation: Bool
    /// How short captions and hard negatives are worded (long captions keep theirs).
    package var wording: CaptionWording
    /// Share of all short-caption texts reserved for the eval split (by a fixed hash of the
    /// text, independent of the seed): train never uses them, so the splits are disjoint.
    package var evalCaptionFraction: Double
    /// Train samples carry one hard negative each (of a random type from `trainNegativeTypes`),
    /// for training use (loss.hard_negatives).
    package var trainNegatives: Bool
    /// With `trainNegatives`: store one negative of EVERY type in `trainNegativeTypes` that has a
    /// false edit, instead of one of a random type.
    package var everyTrainNegative: Bool
    /// The types train negatives are drawn from (all four by default).
    package var trainNegativeTypes: [HardNegativeType]
    /// Each eval short caption is true of its own eval image only (clearly false of every
    /// other), so text-to-image retrieval has exactly one right answer.
    package var exclusiveEvalCaptions: Bool

    package init(rendering: SyntheticRendering = SyntheticRendering(), minObjects: Int = 2, maxObjects: Int = 3,
                shapes: [SyntheticShape] = SyntheticShape.allCases, colours: [SyntheticColour] = SyntheticColour.allCases,
                sizes: [SyntheticSize] = SyntheticSize.allCases, sizesInShortCaption: Bool = false, smallRadius: Double = 0.12, largeRadius: Double = 0.2,
                relationMargin: Double = 0.03, grid: Int? = nil, gridGap: Int = 0, singleRelation: Bool = false, wording: CaptionWording = .subjectFirst, evalCaptionFraction: Double = 0.25, trainNegatives: Bool = false,
                everyTrainNegative: Bool = false, trainNegativeTypes: [HardNegativeType] = HardNegativeType.allCases,
                exclusiveEvalCaptions: Bool = true) {
        self.rendering = rendering
        self.minObjects = minObjects
        self.maxObjects = maxObjects
        self.shapes = shapes
        self.colours = colours
        self.sizes = sizes
        self.sizesInShortCaption = sizesInShortCaption
        self.smallRadius = smallRadius
        self.largeRadius = largeRadius
        self.relationMargin = relationMargin
        self.grid = grid
        self.gridGap = gridGap
        self.singleRelation = singleRelation
        self.wording = wording
        self.evalCaptionFraction = evalCaptionFraction
        self.trainNegatives = trainNegatives
        self.everyTrainNegative = everyTrainNegative
        self.trainNegativeTypes = trainNegativeTypes
        self.exclusiveEvalCaptions = exclusiveEvalCaptions
    }

    /// Throws a message naming the setting and a valid range for anything unusable.
    package func validate() throws {
        func fail(_ message: String) -> SyntheticDataError { SyntheticDataError("synthetic data: \(message)") }
        guard rendering.imageSize >= 8 && rendering.imageSize <= 4096 else {
            throw fail("image size \(rendering.imageSize) is outside 8...4096.")
        }
        guard rendering.supersampling >= 1 && rendering.supersampling <= 16 else {
            throw fail("supersampling \(rendering.supersampling) is outside 1...16 (4 is plenty).")
        }
        guard rendering.backgroundNoise >= 0 && rendering.backgroundNoise <= 64 else {
            throw fail("background noise \(rendering.backgroundNoise) is outside 0...64.")
        }
        guard minObjects >= 2 && maxObjects >= minObjects && maxObjects <= SyntheticVocabulary.maxObjects else {
            throw fail("objects per scene \(minObjects)...\(maxObjects) must lie within 2...\(SyntheticVocabulary.maxObjects), min <= max.")
        }
        guard Set(shapes).count == shapes.count, Set(colours).count == colours.count else {
            throw fail("the shape and colour lists must not repeat an entry.")
        }
        guard !sizes.isEmpty && Set(sizes).count == sizes.count else {
            throw fail("the size list must be non-empty and not repeat an entry (from \(SyntheticSize.allCases.map(\.rawValue).joined(separator: ", "))).")
        }
        guard shapes.count >= maxObjects, colours.count >= max(maxObjects, 3) else {
            throw fail("\(maxObjects) objects per scene need at least \(maxObjects) shapes and \(max(maxObjects, 3)) colours (a scene never repeats one; replace_attribute needs a spare colour).")
        }
        guard smallRadius >= 0.05 && smallRadius < largeRadius && largeRadius <= 0.3 else {
            throw fail("radii small \(smallRadius), large \(largeRadius) must satisfy 0.05 <= small < large <= 0.3.")
        }
        if let grid {
            guard grid >= 2 && grid <= 64 && rendering.imageSize % grid == 0 else {
                throw fail("grid \(grid) must lie within 2...64 and divide the image size \(rendering.imageSize) (e.g. 4 for 32-pixel images and patch 8).")
            }
            guard grid * grid >= 4 * maxObjects else {
                throw fail("a \(grid) x \(grid) grid is too small for \(maxObjects) objects of up to 2 x 2 cells; use a grid of at least \(Int((4.0 * Double(maxObjects)).squareRoot().rounded(.up))).")
            }
            guard gridGap >= 0 && gridGap <= grid - 3 else {
                throw fail("grid gap \(gridGap) must lie within 0...\(max(grid - 3, 0)) on a \(grid) x \(grid) grid (a large object spans 2 cells and the other object needs one).")
            }
        } else if gridGap != 0 {
            throw fail("a grid gap (\(gridGap)) needs a grid; give --grid too.")
        }
        guard !trainNegativeTypes.isEmpty && Set(trainNegativeTypes).count == trainNegativeTypes.count else {
            throw fail("the train negative types must be a non-empty list without repeats (from \(HardNegativeType.allCases.map(\.rawValue).joined(separator: ", "))).")
        }
        guard relationMargin >= 0 && relationMargin <= 0.2 else {
            throw fail("relation margin \(relationMargin) is outside 0...0.2.")
        }
        guard evalCaptionFraction > 0 && evalCaptionFraction <= 0.5 else {
            throw fail("eval caption fraction \(evalCaptionFraction) is outside (0, 0.5]; train needs the rest.")
        }
    }
}

package enum SyntheticSplit: String, Sendable, CaseIterable {
    case train, eval
}

package struct SyntheticDataError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
