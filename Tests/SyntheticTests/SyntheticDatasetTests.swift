import Datasets
import Kernels
import Synthetic
import TestSupport
import XCTest

final class SyntheticDatasetTests: XCTestCase {
    /// Eval size for the split tests: large enough that duplicates or a bad negative would
    /// show up, small enough to stay well under a second in debug builds.
    static let evalCount = 300

    func testSameSeedSameBytesOnAnyThreadCount() throws {
        let saved = KernelThreads.count
        defer { KernelThreads.count = saved }
        KernelThreads.count = 1
        let a = try SyntheticDataset(seed: 11)
        let trainOne = a.trainSamples(0..<40), evalOne = try a.evalSamples(count: 40)
        KernelThreads.count = 2
        let b = try SyntheticDataset(seed: 11)
        XCTAssertEqual(b.trainSamples(0..<40), trainOne)
        XCTAssertEqual(try b.evalSamples(count: 40), evalOne)
        // A train example does not depend on which others are generated with it.
        XCTAssertEqual(b.trainSamples(17..<19), Array(trainOne[17..<19]))
        let other = try SyntheticDataset(seed: 12).trainSamples(0..<40)
        XCTAssertNotEqual(other.map(\.image), trainOne.map(\.image))
        XCTAssertNotEqual(other.map(\.short), trainOne.map(\.short))
    }

    func testImagesHaveTheConfiguredSizeAndShowTheObjects() throws {
        let options = SyntheticOptions(rendering: SyntheticRendering(imageSize: 48))
        let samples = try SyntheticDataset(seed: 3, options: options).trainSamples(0..<10)
        for sample in samples { XCTAssertEqual(sample.image.count, 48 * 48 * 3) }
        let plain = SyntheticRendering(backgroundNoise: 0)
        let example = try SyntheticDataset(seed: 3).trainExample(0)
        let pixels = plain.render(example.scene)
        XCTAssertEqual(Array(pixels[0..<3]), [38, 38, 42], "a corner pixel is plain background without noise")
    }

    func testEvalShortCaptionsAreUniqueAndNeverUsedForTraining() throws {
        let data = try SyntheticDataset(seed: 5)
        let eval = try data.evalExamples(count: Self.evalCount)
        XCTAssertEqual(Set(eval.map(\.short.text)).count, Self.evalCount)
        XCTAssertEqual(Set(eval.map(\.id)).count, Self.evalCount)
        for example in eval { XCTAssertTrue(data.isEvalCaption(example.short)) }
        let evalTexts = Set(eval.map(\.short.text))
        for index in 0..<500 {
            let example = data.trainExample(index)
            XCTAssertFalse(data.isEvalCaption(example.short), "train \(index): \(example.short.text)")
            XCTAssertFalse(evalTexts.contains(example.short.text))
        }
    }

    /// Retrieval has one right answer: each eval caption is false of every other eval image.
    func testEvalCaptionsAreExclusiveToTheirImage() throws {
        let eval = try SyntheticDataset(seed: 8).evalExamples(count: Self.evalCount)
        for (i, example) in eval.enumerated() {
            for (j, other) in eval.enumerated() where j != i {
                XCTAssertEqual(other.scene.truth(of: example.short), .isFalse, "'\(example.short.text)' also fits \(other.id)")
            }
        }
        // Without the option some caption fits another image too (that is why it exists).
        let loose = try SyntheticDataset(seed: 8, options: SyntheticOptions(exclusiveEvalCaptions: false)).evalExamples(count: Self.evalCount)
        XCTAssertTrue(loose.contains { example in loose.contains { $0.id != example.id && $0.scene.truth(of: example.short) == .isTrue } })
    }

    func testPositivesAreTrueAndEveryHardNegativeIsFalseAndOfItsType() throws {
        for withSizes in [false, true] {
            let data = try SyntheticDataset(seed: 9, options: SyntheticOptions(sizesInShortCaption: withSizes))
            for example in try data.evalExamples(count: Self.evalCount) {
                let scene = example.scene, positive = example.short
                XCTAssertEqual(scene.truth(of: positive), .isTrue, positive.text)
                XCTAssertEqual(positive.subject.size != nil, withSizes)
                XCTAssertEqual(Set(example.negatives.keys), Set(HardNegativeType.allCases))
                for (type, negative) in example.negatives {
                    XCTAssertNotEqual(negative.text, positive.text)
                    XCTAssertNotEqual(negative.text, positive.converse.text, "\(type) paraphrases the positive")
                    XCTAssertEqual(scene.truth(of: negative), .isFalse, "\(type): '\(negative.text)' for '\(positive.text)'")
                    checkEdit(type, positive, negative)
                }
            }
        }
    }

    /// Each negative changes exactly what its type says and nothing else.
    func checkEdit(_ type: HardNegativeType, _ p: RelationCaption, _ n: RelationCaption) {
        XCTAssertEqual(n.subject.size, p.subject.size)
        XCTAssertEqual(n.object.size, p.object.size)
        switch type {
        case .replaceAttribute:
            let changed = (n.subject.colour != p.subject.colour ? 1 : 0) + (n.object.colour != p.object.colour ? 1 : 0)
            XCTAssertEqual(changed, 1)
            XCTAssertEqual([n.subject.shape, n.object.shape], [p.subject.shape, p.object.shape])
            XCTAssertEqual(n.relation, p.relation)
        case .swapAttributes:
            XCTAssertEqual([n.subject.colour, n.object.colour], [p.object.colour, p.subject.colour])
            XCTAssertEqual([n.subject.shape, n.object.shape], [p.subject.shape, p.object.shape])
            XCTAssertEqual(n.relation, p.relation)
        case .swapObjects:
            XCTAssertEqual([n.subject.shape, n.object.shape], [p.object.shape, p.subject.shape])
            XCTAssertEqual([n.subject.colour, n.object.colour], [p.subject.colour, p.object.colour])
            XCTAssertEqual(n.relation, p.relation)
        case .replaceRelation:
            XCTAssertNotEqual(n.relation, p.relation)
            XCTAssertEqual(n.subject, p.subject)
            XCTAssertEqual(n.object, p.object)
        }
    }

    /// The relation of every positive also holds in the PIXELS: the subject's colour occupies
    /// only columns (rows) strictly before the object's. Checks renderer and scene graph together.
    func testRelationsHoldInTheRenderedPixels() throws {
        let data = try SyntheticDataset(seed: 21)
        let plain = SyntheticRendering(backgroundNoise: 0)
        for example in try data.evalExamples(count: 100) {
            let pixels = plain.render(example.scene)
            guard let a = extent(of: example.short.subject.colour, in: pixels, side: plain.imageSize),
                  let b = extent(of: example.short.object.colour, in: pixels, side: plain.imageSize) else {
                XCTFail("\(example.id): an object of '\(example.short.text)' is not visible"); continue
            }
            let holds: Bool
            switch example.short.relation {
            case .leftOf: holds = a.maxX < b.minX
            case .rightOf: holds = a.minX > b.maxX
            case .above: holds = a.maxY < b.minY
            case .below: holds = a.minY > b.maxY
            }
            XCTAssertTrue(holds, "\(example.id): '\(example.short.text)' not visible in the pixels: \(a) vs \(b)")
        }
    }

    /// Bounding box of the pixels within a small distance of `colour` (mostly-covered pixels).
    func extent(of colour: SyntheticColour, in pixels: [UInt8], side: Int) -> (minX: Int, maxX: Int, minY: Int, maxY: Int)? {
        let c = colour.rgb, target = [Int(c.red), Int(c.green), Int(c.blue)]
        var box: (minX: Int, maxX: Int, minY: Int, maxY: Int)?
        for y in 0..<side {
            for x in 0..<side {
                let distance = (0..<3).map { abs(Int(pixels[(y * side + x) * 3 + $0]) - target[$0]) }.max()!
                guard distance <= 40 else { continue }
                box = (min(box?.minX ?? x, x), max(box?.maxX ?? x, x), min(box?.minY ?? y, y), max(box?.maxY ?? y, y))
            }
        }
        return box
    }

    func testTrainNegativesWhenAsked() throws {
        let data = try SyntheticDataset(seed: 4, options: SyntheticOptions(trainNegatives: true))
        for index in 0..<100 {
            let example = data.trainExample(index)
            XCTAssertEqual(example.negatives.count, 1)
            for (_, negative) in example.negatives { XCTAssertEqual(example.scene.truth(of: negative), .isFalse) }
        }
        let sample = data.trainSamples(0..<1)[0]
        XCTAssertEqual(sample.negatives.count, 1)
        XCTAssertTrue(HardNegativeType.allCases.map(\.rawValue).contains(sample.negatives.keys.first!))
        XCTAssertTrue(try SyntheticDataset(seed: 4).trainExample(0).negatives.isEmpty)
        // Every type asked for (each that has a false edit), and only those.
        let swaps: [HardNegativeType] = [.swapAttributes, .swapObjects]
        let every = try SyntheticDataset(seed: 4, options: SyntheticOptions(maxObjects: 2, grid: 4, trainNegatives: true,
                                                                          everyTrainNegative: true, trainNegativeTypes: swaps))
        for index in 0..<50 {
            let example = every.trainExample(index)
            XCTAssertEqual(Set(example.negatives.keys), Set(swaps), "\(example.short.text)")
            for (_, negative) in example.negatives { XCTAssertEqual(example.scene.truth(of: negative), .isFalse) }
        }
        XCTAssertThrowsError(try SyntheticDataset(seed: 4, options: SyntheticOptions(trainNegativeTypes: [])))
    }

    /// On a grid, objects fill whole cells: small ones one cell, large ones 2 x 2 cells.
    func testGridPlacementAlignsObjectsWithCells() throws {
        let data = try SyntheticDataset(seed: 8, options: SyntheticOptions(maxObjects: 2, grid: 4))
        for index in 0..<100 {
            for object in data.trainExample(index).scene.objects {
                let cells = object.radius * 2 * 4
                XCTAssertEqual(cells, object.size == .small ? 1 : 2, accuracy: Tolerance.doubleReordering)
                let corner = (object.x - object.radius) * 4, top = (object.y - object.radius) * 4
                XCTAssertEqual(corner, corner.rounded(), accuracy: Tolerance.doubleReordering)
                XCTAssertEqual(top, top.rounded(), accuracy: Tolerance.doubleReordering)
                XCTAssertTrue(corner >= 0 && corner + cells <= 4 && top >= 0 && top + cells <= 4)
            }
        }
        XCTAssertThrowsError(try SyntheticDataset(seed: 8, options: SyntheticOptions(grid: 5)))   // 32 px do not divide into 5
        XCTAssertThrowsError(try SyntheticDataset(seed: 8, options: SyntheticOptions(maxObjects: 4, grid: 2)))
    }

    /// With a grid gap, a relation is true only across at least one empty cell: every positive and
    /// every scene pair is that far apart, negatives stay false, and neighbours are never related.
    func testGridGapKeepsRelatedObjectsAWholeCellApart() throws {
        let data = try SyntheticDataset(seed: 9, options: SyntheticOptions(maxObjects: 2, grid: 4, gridGap: 1))
        func gapCells(_ a: SyntheticObject, _ b: SyntheticObject, _ relation: SpatialRelation) -> Double {
            let horizontal = relation == .leftOf || relation == .rightOf
            let distance = horizontal ? abs(a.x - b.x) : abs(a.y - b.y)
            return (distance - a.radius - b.radius) * 4
        }
        var sawNeighbours = false
        for example in try data.evalExamples(count: 60) + (0..<200).map(data.trainExample) {
            let scene = example.scene
            let (a, b) = (scene.objects[0], scene.objects[1])
            XCTAssertTrue(SpatialRelation.allCases.contains { gapCells(a, b, $0) >= 1 - Tolerance.doubleReordering }, "\(example.id): objects not a cell apart")
            let subject = scene.objects.first { $0.colour == example.short.subject.colour }!
            let object = scene.objects.first { $0.colour == example.short.object.colour }!
            XCTAssertGreaterThanOrEqual(gapCells(subject, object, example.short.relation), 1 - Tolerance.doubleReordering, example.short.text)
            for negative in example.negatives.values { XCTAssertEqual(scene.truth(of: negative), .isFalse, negative.text) }
            for relation in SpatialRelation.allCases where abs(gapCells(a, b, relation)) < 1e-9 {
                // Touching along this axis: neither direction may be called true.
                sawNeighbours = true
                XCTAssertNotEqual(scene.truth(a, relation, b), .isTrue)
                XCTAssertNotEqual(scene.truth(b, relation, a), .isTrue)
            }
        }
        XCTAssertTrue(sawNeighbours, "no scene had neighbouring objects on some axis; the check above never ran")
        XCTAssertThrowsError(try SyntheticDataset(seed: 9, options: SyntheticOptions(gridGap: 1))) { error in
            XCTAssertTrue("\(error)".contains("needs a grid"), "\(error)")
        }
        XCTAssertThrowsError(try SyntheticDataset(seed: 9, options: SyntheticOptions(maxObjects: 2, grid: 4, gridGap: 2))) { error in
            XCTAssertTrue("\(error)".contains("grid gap 2"), "\(error)")
        }
    }

    /// With `singleRelation`, no pair is diagonal: exactly one relation (and its converse) is true,
    /// free placement or grid.
    func testSingleRelationLeavesEveryPairOneTrueRelation() throws {
        for options in [SyntheticOptions(maxObjects: 3, singleRelation: true),
                        SyntheticOptions(maxObjects: 2, grid: 4, gridGap: 1, singleRelation: true)] {
            let data = try SyntheticDataset(seed: 11, options: options)
            for example in try data.evalExamples(count: 40) + (0..<150).map(data.trainExample) {
                let scene = example.scene
                for (i, a) in scene.objects.enumerated() {
                    for (j, b) in scene.objects.enumerated() where j != i {
                        let trueRelations = SpatialRelation.allCases.filter { scene.truth(a, $0, b) == .isTrue }
                        XCTAssertEqual(trueRelations.count, 1, "\(example.id): \(trueRelations)")
                    }
                }
            }
        }
    }

    func testSizeListLimitsTheObjectSizes() throws {
        for sizes in [[SyntheticSize.small], [.large], [.small, .large]] {
            let data = try SyntheticDataset(seed: 10, options: SyntheticOptions(maxObjects: 2, sizes: sizes, grid: 4))
            let seen = Set((0..<100).flatMap { data.trainExample($0).scene.objects.map(\.size) })
            XCTAssertEqual(seen, Set(sizes))
        }
        XCTAssertThrowsError(try SyntheticDataset(seed: 10, options: SyntheticOptions(sizes: []))) { error in
            XCTAssertTrue("\(error)".contains("size list"), "\(error)")
        }
    }

    func testCaptionsUseOnlyVocabularyWordsAndLongCaptionsAreLong() throws {
        let vocabulary = Set(SyntheticVocabulary.words)
        let data = try SyntheticDataset(seed: 6, options: SyntheticOptions(maxObjects: 4, sizesInShortCaption: true))
        var longWordCounts: [Int] = []
        var texts: [String] = []
        for example in try data.evalExamples(count: 100) {
            texts += [example.short.text, example.long] + example.negatives.values.map(\.text)
            longWordCounts.append(example.long.split(separator: " ").count)
            for object in example.scene.objects {
                XCTAssertTrue(example.long.contains("\(object.size.rawValue) \(object.colour.rawValue) \(object.shape.rawValue)"))
            }
        }
        for text in texts {
            for token in text.split(separator: " ") {
                var word = String(token)
                if let last = word.last, SyntheticVocabulary.punctuation.contains(String(last)) { word.removeLast() }
                XCTAssertTrue(vocabulary.contains(word), "'\(word)' of '\(text)' is not in SyntheticVocabulary.words")
            }
        }
        // Two objects give at least 35 words (plus 3 punctuation tokens); more objects give more.
        XCTAssertGreaterThanOrEqual(longWordCounts.min()!, 30)
    }

    func testLongCaptionWording() throws {
        let scene = SyntheticScene(objects: [
            SyntheticObject(shape: .circle, colour: .red, size: .large, x: 0.25, y: 0.25, radius: 0.2),
            SyntheticObject(shape: .square, colour: .orange, size: .small, x: 0.5, y: 0.8, radius: 0.12),
        ], noiseSeed: 0, relationMargin: 0.03)
        XCTAssertEqual(scene.longCaption, "the image shows two shapes on a dark background. there is a large red circle in the top left corner and a small orange square at the bottom. the red circle is above the orange square.")
        let positive = RelationCaption(subject: ObjectPhrase(scene.objects[0], withSize: false), relation: .above,
                                       object: ObjectPhrase(scene.objects[1], withSize: false))
        XCTAssertEqual(positive.text, "a red circle above an orange square")
        XCTAssertEqual(scene.truth(of: positive), .isTrue)
        // Left of is neither clearly true (the boxes overlap horizontally) nor false.
        XCTAssertEqual(scene.truth(of: RelationCaption(subject: positive.subject, relation: .leftOf, object: positive.object)), .ambiguous)
        XCTAssertEqual(scene.truth(of: RelationCaption(subject: positive.subject, relation: .rightOf, object: positive.object)), .isFalse)
    }

    /// Relation-first wording changes the words only: the same scenes, images, splits and choices
    /// of caption, with every short caption and negative written relation first.
    func testRelationFirstWordingRewordsCaptionsAndNegativesOnly() throws {
        var options = SyntheticOptions(maxObjects: 2, grid: 4, gridGap: 1, singleRelation: true, trainNegatives: true,
                                       everyTrainNegative: true)
        let plain = try SyntheticDataset(seed: 4, options: options)
        options.wording = .relationFirst
        let reworded = try SyntheticDataset(seed: 4, options: options)
        let vocabulary = Set(SyntheticVocabulary.words)
        for (examples, samples) in [(try plain.evalExamples(count: 60), try reworded.evalSamples(count: 60)),
                                    ((0..<60).map(plain.trainExample), reworded.trainSamples(0..<60))] {
            XCTAssertEqual(examples.count, samples.count)
            for (example, sample) in zip(examples, samples) {
                XCTAssertEqual(sample.id, example.id)
                XCTAssertEqual(sample.image, plain.options.rendering.render(example.scene))
                XCTAssertEqual(sample.long, example.long)
                let s = example.short, short = try XCTUnwrap(sample.short)
                XCTAssertEqual(short, "\(s.relation.rawValue) \(s.object.text) is \(s.subject.text)")
                XCTAssertEqual(Set(sample.negatives.keys), Set(example.negatives.keys.map(\.rawValue)))
                for (type, negative) in example.negatives {
                    XCTAssertEqual(sample.negatives[type.rawValue], negative.text(.relationFirst))
                    XCTAssertNotEqual(sample.negatives[type.rawValue], short)
                }
                for word in ([short] + sample.negatives.values).flatMap({ $0.split(separator: " ") }) {
                    XCTAssertTrue(vocabulary.contains(String(word)), "'\(word)' is not in SyntheticVocabulary.words")
                }
            }
        }
        let caption = RelationCaption(subject: ObjectPhrase(colour: .red, shape: .circle, size: nil), relation: .leftOf,
                                      object: ObjectPhrase(colour: .orange, shape: .square, size: nil))
        XCTAssertEqual(caption.text(.relationFirst), "left of an orange square is a red circle")
        XCTAssertEqual(caption.text(.subjectFirst), "a red circle left of an orange square")
    }

    func testBadOptionsAndAnExhaustedEvalPoolAreExplained() throws {
        XCTAssertThrowsError(try SyntheticDataset(seed: 0, options: SyntheticOptions(maxObjects: 5))) { error in
            XCTAssertTrue("\(error)".contains("objects per scene"), "\(error)")
        }
        XCTAssertThrowsError(try SyntheticDataset(seed: 0, options: SyntheticOptions(colours: [.red, .green]))) { error in
            XCTAssertTrue("\(error)".contains("colours"), "\(error)")
        }
        // 3 colours x 2 shapes leave a handful of distinct eval captions.
        let small = try SyntheticDataset(seed: 0, options: SyntheticOptions(maxObjects: 2, shapes: [.circle, .square],
                                                                            colours: [.red, .green, .blue]))
        XCTAssertThrowsError(try small.evalExamples(count: 50)) { error in
            XCTAssertTrue("\(error)".contains("distinct eval short captions"), "\(error)")
        }
    }
}
