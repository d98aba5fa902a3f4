import Datasets
import Kernels

/// One synthetic example before rendering: the scene graph and its captions.
package struct SyntheticExample: Sendable, Equatable {
    /// "synth-train-000123" or "synth-eval-000123".
    package var id: String
    package var scene: SyntheticScene
    package var short: RelationCaption
    package var long: String
    /// Eval: one of every type. Train, when `trainNegatives` is set: one of a random type, or with
    /// `everyTrainNegative` one of every type that has a false edit (from `trainNegativeTypes`).
    package var negatives: [HardNegativeType: RelationCaption]
    /// How `short` and `negatives` are written into the sample.
    package var wording: CaptionWording = .subjectFirst

    /// The shard-ready sample; negatives are keyed by their type's raw name ("swap_objects").
    package func sample(_ rendering: SyntheticRendering) -> Sample { sample(image: rendering.render(scene)) }

    func sample(image: [UInt8]) -> Sample {
        Sample(id: id, image: image, short: short.text(wording), long: long,
               negatives: Dictionary(uniqueKeysWithValues: negatives.map { ($0.key.rawValue, $0.value.text(wording)) }))
    }
}

/// Discern's synthetic compositional data set: scenes of 2-4 coloured shapes, a short
/// relation caption, a long descriptive caption, and SugarCrepe-style hard negatives.
/// Train example i is a pure function of (seed, options, i); the eval split is a pure
/// function of (seed, options, count). Rendering threads never change a byte.
package struct SyntheticDataset: Sendable {
    package let seed: UInt64
    package let options: SyntheticOptions

    package init(seed: UInt64, options: SyntheticOptions = SyntheticOptions()) throws {
        try options.validate()
        self.seed = seed
        self.options = options
    }

    /// Whether a short caption belongs to the eval split (a fixed hash of its text, so train
    /// and eval never share a short caption, whatever their seeds and sizes).
    package func isEvalCaption(_ caption: RelationCaption) -> Bool {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: stable across runs and platforms
        for byte in caption.text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Double(mix(hash) >> 11) * 0x1.0p-53 < options.evalCaptionFraction
    }

    /// Scene `attempt` of example `index` in `split`, or nil when the objects did not fit.
    package func scene(split: SyntheticSplit, index: Int, attempt: Int = 0) -> SyntheticScene? {
        var random = randomStream(split, index, attempt, purpose: 0)
        return makeScene(&random)
    }

    /// Train example `index` (its short caption is never an eval caption).
    package func trainExample(_ index: Int) -> SyntheticExample {
        // Attempts are rarely needed (a scene whose every true caption is an eval caption);
        // 1000 in a row would take an eval fraction far beyond what validate() allows.
        for attempt in 0..<1000 {
            guard let scene = scene(split: .train, index: index, attempt: attempt) else { continue }
            let candidates = scene.trueRelationCaptions(withSizes: options.sizesInShortCaption).filter { !isEvalCaption($0) }
            guard !candidates.isEmpty else { continue }
            var random = randomStream(.train, index, attempt, purpose: 1)
            let short = candidates[Int(random.next() % UInt64(candidates.count))]
            var negatives: [HardNegativeType: RelationCaption] = [:]
            if options.trainNegatives {
                // The first type, in a random order, that has a false edit here (or every such type).
                var types = options.trainNegativeTypes
                shuffle(&types, &random)
                for type in types {
                    if let negative = scene.hardNegative(type, of: short, colours: options.colours, random: &random) {
                        negatives[type] = negative
                        if !options.everyTrainNegative { break }
                    }
                }
            }
            return SyntheticExample(id: Self.id(.train, index), scene: scene, short: short, long: scene.longCaption,
                                    negatives: negatives, wording: options.wording)
        }
        preconditionFailure("synthetic train example \(index): no scene with a train caption in 1000 attempts")
    }

    /// The eval split: `count` examples with pairwise different short captions (with
    /// `exclusiveEvalCaptions`, each true of its own image only), each with one hard negative
    /// of every type. Throws when the eval caption pool runs dry first.
    package func evalExamples(count: Int) throws -> [SyntheticExample] {
        var examples: [SyntheticExample] = []
        var used = Set<String>()
        let scenesToTry = max(count, 1) * 200
        var index = 0
        while examples.count < count && index < scenesToTry {
            defer { index += 1 }
            guard let scene = scene(split: .eval, index: index) else { continue }
            // Exclusive captions: no earlier caption may be true (or even ambiguous) here, and
            // the new caption must be false of every earlier image.
            if options.exclusiveEvalCaptions && examples.contains(where: { scene.truth(of: $0.short) != .isFalse }) { continue }
            var random = randomStream(.eval, index, 0, purpose: 1)
            var candidates = scene.trueRelationCaptions(withSizes: options.sizesInShortCaption).filter { caption in
                isEvalCaption(caption) && !used.contains(caption.text)
                    && (!options.exclusiveEvalCaptions || examples.allSatisfy { $0.scene.truth(of: caption) == .isFalse })
            }
            shuffle(&candidates, &random)
            for short in candidates {
                guard let negatives = scene.allHardNegatives(of: short, colours: options.colours, random: &random) else { continue }
                used.insert(short.text)
                examples.append(SyntheticExample(id: Self.id(.eval, examples.count), scene: scene, short: short,
                                                 long: scene.longCaption, negatives: negatives, wording: options.wording))
                break
            }
        }
        guard examples.count == count else {
            throw SyntheticDataError("synthetic data: only \(examples.count) distinct eval short captions found after \(scenesToTry) scenes, \(count) requested. Ask for fewer eval samples, raise the eval caption fraction (now \(options.evalCaptionFraction)), put sizes in the short captions (more distinct captions), or turn exclusive eval captions off (discern synth --shared-eval-captions).")
        }
        return examples
    }

    /// Train samples `range`, rendered on `KernelThreads.count` threads (same bytes on any count).
    package func trainSamples(_ range: Range<Int>) -> [Sample] {
        render(range.map(trainExample))
    }

    package func evalSamples(count: Int) throws -> [Sample] {
        render(try evalExamples(count: count))
    }

    /// Renders examples in parallel, each into its own slice of one buffer.
    package func render(_ examples: [SyntheticExample]) -> [Sample] {
        let rendering = options.rendering
        let size = rendering.imageSize * rendering.imageSize * 3
        var pixels = [UInt8](repeating: 0, count: examples.count * size)
        pixels.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let shared = SharedPointer(base)
            parallelFor(examples.count, grain: 16) { range in
                for i in range {
                    let image = rendering.render(examples[i].scene)
                    (shared.pointer + i * size).update(from: image, count: size)
                }
            }
        }
        return examples.enumerated().map { i, example in example.sample(image: Array(pixels[(i * size)..<((i + 1) * size)])) }
    }

    static func id(_ split: SyntheticSplit, _ index: Int) -> String {
        let digits = String(index)
        return "synth-\(split.rawValue)-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// An independent random stream per (split, index, attempt, purpose).
    func randomStream(_ split: SyntheticSplit, _ index: Int, _ attempt: Int, purpose: UInt64) -> Xoshiro256 {
        let splitTag: UInt64 = split == .train ? 0x7472_6169_6e : 0x6576_616c
        return Xoshiro256(seed: mix(mix(mix(mix(seed ^ splitTag) ^ UInt64(index)) ^ UInt64(attempt)) ^ purpose))
    }

    /// Places distinct-coloured, distinct-shaped objects so that every pair stands in at least
    /// one clearly true relation (their boxes are apart by the margin along some axis).
    func makeScene(_ random: inout Xoshiro256) -> SyntheticScene? {
        let o = options
        let count = o.minObjects + Int(random.next() % UInt64(o.maxObjects - o.minObjects + 1))
        var colours = o.colours, shapes = o.shapes
        shuffle(&colours, &random)
        shuffle(&shapes, &random)
        let border = 0.02  // keeps anti-aliased edges off the image border
        var objects: [SyntheticObject] = []
        let noiseSeed = random.next()
        // On a grid, boxes are apart by whole cells: neighbouring cells touch exactly (gap 0). The
        // small slack keeps exact multiples of the cell side from failing on rounding.
        let margin = o.grid.map { o.gridGap == 0 ? 0 : Double(o.gridGap) / Double($0) - 1e-9 } ?? o.relationMargin
        for k in 0..<count {
            let size = o.sizes[Int(random.next() % UInt64(o.sizes.count))]
            var placed = false
            for _ in 0..<100 {
                let radius: Double, x: Double, y: Double
                if let grid = o.grid {
                    // Small: centred in one of grid x grid cells; large: centred on an inner
                    // cell corner, covering the 2 x 2 cells around it.
                    let cell = 1 / Double(grid)
                    if size == .small {
                        radius = cell / 2
                        x = (Double(random.next() % UInt64(grid)) + 0.5) * cell
                        y = (Double(random.next() % UInt64(grid)) + 0.5) * cell
                    } else {
                        radius = cell
                        x = Double(1 + random.next() % UInt64(grid - 1)) * cell
                        y = Double(1 + random.next() % UInt64(grid - 1)) * cell
                    }
                } else {
                    radius = size == .small ? o.smallRadius : o.largeRadius
                    let low = radius + border, high = 1 - radius - border
                    x = random.uniform(low, high)
                    y = random.uniform(low, high)
                }
                let candidate = SyntheticObject(shape: shapes[k], colour: colours[k], size: size, x: x, y: y, radius: radius)
                let probe = SyntheticScene(objects: [], noiseSeed: 0, relationMargin: margin)
                let separated = objects.allSatisfy { other in
                    let trueRelations = SpatialRelation.allCases.filter { probe.truth(candidate, $0, other) == .isTrue }.count
                    return o.singleRelation ? trueRelations == 1 : trueRelations > 0
                }
                if separated { objects.append(candidate); placed = true; break }
            }
            if !placed { return nil }
        }
        return SyntheticScene(objects: objects, noiseSeed: noiseSeed, relationMargin: margin)
    }
}

/// Fisher-Yates with our own generator calls: the standard library's shuffle may change its
/// algorithm between Swift releases, which would change the data.
func shuffle<Element>(_ items: inout [Element], _ random: inout Xoshiro256) {
    guard items.count > 1 else { return }
    for i in stride(from: items.count - 1, to: 0, by: -1) {
        items.swapAt(i, Int(random.next() % UInt64(i + 1)))
    }
}

/// SplitMix64's finaliser: spreads every input bit over the output.
func mix(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
