import Kernels
import Layers

/// A batch of preprocessed images, as the family's image processor laid them out.
public struct ImageBatch<T: KernelScalar>: @unchecked Sendable {
    /// A fixed-size family's (count, channels, size, size) values; a dynamic-resolution family's
    /// patch rows of every image, one image after another.
    public let pixels: UnsafePointer<T>
    public let count: Int
    /// Each image's grid in patches (rows, columns), for dynamic-resolution encoders; empty when
    /// every image has the encoder's one fixed size.
    public let grids: [PatchGrid]

    public init(pixels: UnsafePointer<T>, count: Int, grids: [PatchGrid] = []) {
        precondition(grids.isEmpty || grids.count == count, "ImageBatch: \(grids.count) grids for \(count) images")
        self.pixels = pixels
        self.count = count
        self.grids = grids
    }
}

/// An image's size in patches.
public struct PatchGrid: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
    }
}

/// What a forward of the vision encoder keeps for its backward; each encoder has its own kind.
public protocol VisionEncoderTape: AnyObject, Sendable {}

/// The vision half of a vision-language model: images in, rows of features already at the
/// language model's width out, one per image position in the LLM sequence (LLaVA: CLIP and the
/// projector; Qwen2-VL: its ViT and the patch merger). Model code only: no files, no MPI.
public protocol VisionEncoder<Scalar>: AnyObject, Sendable {
    associatedtype Scalar: KernelScalar

    /// True when anything in the encoder trains (LoRA adapters included), so it needs a backward.
    var needsBackward: Bool { get }
    /// LLM positions one image yields, from its patch grid (nil: the encoder's fixed size).
    func tokens(grid: PatchGrid?) -> Int
    /// How those positions lie in 2-D (rows x columns, row-major), for multimodal rotary
    /// positions; nil when the encoder's tokens have no such layout.
    func tokenGrid(_ grid: PatchGrid?) -> PatchGrid?
    /// Input values one image takes in an ImageBatch's pixels (nil grid: the fixed size).
    func inputValues(grid: PatchGrid?) -> Int
    /// Multiply-adds of one image's forward (GEMM work only, as FlopEstimate counts).
    func multiplyAdds(grid: PatchGrid?) -> Double
    func makeTape() -> any VisionEncoderTape
    /// images -> (total tokens, language width) features, owned by the tape.
    func forward(_ images: ImageBatch<Scalar>, tape: any VisionEncoderTape) -> UnsafeMutablePointer<Scalar>
    /// Adds the parameter gradients of the last forward on `tape` given dFeatures (its output's gradient).
    func backward(_ dFeatures: UnsafePointer<Scalar>, images: ImageBatch<Scalar>, tape: any VisionEncoderTape, scratch: StackScratch<Scalar>)
}
