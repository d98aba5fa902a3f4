import Kernels
import Layers

/// LLaVA's vision half: CLIP's features of the selected layer, through the projector to the
/// LLM's width. Every image has the tower's one square size.
public final class LlavaVisionEncoder<T: KernelScalar>: VisionEncoder, @unchecked Sendable {
    public typealias Scalar = T
    public let tower: CLIPVisionTower<T>
    public let projector: Projector<T>
    public let needsBackward: Bool
    private let languageWidth: Int
    // Backward temporaries: a model runs one backward at a time.
    private let dTowerFeatures = GrowableBuffer<T>()
    private let towerBuffers = VisionBackwardBuffers<T>()
    private let projectorScratch = Projector<T>.Scratch()

    public init(tower: CLIPVisionTower<T>, projector: Projector<T>, languageWidth: Int) {
        self.tower = tower
        self.projector = projector
        self.languageWidth = languageWidth
        needsBackward = tower.needsBackward || projector.needsBackward
    }

    final class Tape: VisionEncoderTape, @unchecked Sendable {
        let tower = CLIPVisionTower<T>.Tape()
        let projector = Projector<T>.Tape()
        let projected = GrowableBuffer<T>()   // (images * tokens, languageWidth)
        var features: UnsafeMutablePointer<T>?
    }

    public func makeTape() -> any VisionEncoderTape { Tape() }

    public func tokens(grid: PatchGrid?) -> Int { tower.featuresPerImage }

    /// LLaVA's decoder reads one position stream: its image tokens need no 2-D layout.
    public func tokenGrid(_ grid: PatchGrid?) -> PatchGrid? { nil }

    public func inputValues(grid: PatchGrid?) -> Int { tower.config.numChannels * tower.config.imageSize * tower.config.imageSize }

    public func multiplyAdds(grid: PatchGrid?) -> Double {
        let v = tower.config, features = Double(tower.featuresPerImage)
        let tokens = Double(v.numPatches + 1), d = Double(v.hiddenSize), inter = Double(v.intermediateSize)
        let patch = Double(v.numPatches) * Double(v.numChannels * v.patchSize * v.patchSize) * d
        let perLayer = tokens * (4 * d * d + 2 * d * inter) + 2 * tokens * tokens * d
        let width = Double(languageWidth)
        return patch + Double(tower.layersUsed) * perLayer + features * (d * width + width * width)
    }

    public func forward(_ images: ImageBatch<T>, tape: any VisionEncoderTape) -> UnsafeMutablePointer<T> {
        let tape = tape as! Tape
        let rows = images.count * tower.featuresPerImage
        let projected = tape.projected.reserve(max(rows, 1) * languageWidth)
        guard images.count > 0 else { return projected }
        let features = tower.forward(pixels: images.pixels, batch: images.count, tape: tape.tower)
        tape.features = features
        projector.forward(features, rows: rows, into: projected, tape: tape.projector)
        return projected
    }

    public func backward(_ dFeatures: UnsafePointer<T>, images: ImageBatch<T>, tape: any VisionEncoderTape, scratch: StackScratch<T>) {
        let tape = tape as! Tape
        guard needsBackward, images.count > 0, let features = tape.features else { return }
        let rows = images.count * tower.featuresPerImage
        let dTower = tower.needsBackward ? dTowerFeatures.reserveZeroed(rows * tower.config.hiddenSize) : nil
        projector.backward(dFeatures, features: features, rows: rows, dFeatures: dTower, tape: tape.projector, scratch: projectorScratch)
        if let dTower {
            tower.backward(dFeatures: dTower, batch: images.count, tape: tape.tower, scratch: scratch, buffers: towerBuffers)
        }
    }
}
