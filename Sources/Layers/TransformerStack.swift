import Kernels

/// A stack of transformer layers, keeping the residual stream between layers for the backward.
///
/// With `recompute` (activation checkpointing) the forward keeps only each layer's input and
/// runs every layer with ONE shared layer tape; the backward re-runs layer l's forward from its
/// kept input, with that tape, right before layer l's backward. The re-run is the same
/// arithmetic on the same inputs (dropout masks are keyed, not drawn), so the gradients are bit
/// for bit those of the plain path, for the price of one more forward. Memory: the streams plus
/// one layer's tape instead of every layer's.
public final class TransformerStack<T: KernelScalar>: @unchecked Sendable {
    public let layers: [TransformerLayer<T>]
    public let hidden: Int
    public let recompute: Bool

    public init(layers: [TransformerLayer<T>], hidden: Int, recompute: Bool = false) {
        precondition(layers.allSatisfy { $0.hidden == hidden }, "TransformerStack: layers of different widths")
        self.layers = layers
        self.hidden = hidden
        self.recompute = recompute
    }

    public final class Tape: @unchecked Sendable {
        var streams: [GrowableBuffer<T>] = []       // streams[i]: input of layer i; streams[n]: output
        var layerTapes: [TransformerLayer<T>.Tape] = []   // one per layer, or one shared (recompute)
        let recomputed = GrowableBuffer<T>()        // (rows, hidden): a re-run layer's output, unused
        var layersRun = 0
        var sharedTapeLayer: Int?                   // the layer whose activations the shared tape holds
        public init() {}

        func prepare(layers: Int, tapes: Int) {
            while streams.count < layers + 1 { streams.append(GrowableBuffer<T>()) }
            while layerTapes.count < tapes { layerTapes.append(TransformerLayer<T>.Tape()) }
            // Tapes of a plain run that a recomputing stack no longer needs are not kept.
            if layerTapes.count > tapes { layerTapes.removeLast(layerTapes.count - tapes) }
        }

        func layerTape(_ l: Int, recompute: Bool) -> TransformerLayer<T>.Tape { layerTapes[recompute ? 0 : l] }
    }

    /// Runs the first `layerCount` layers on x: (rows, hidden) and returns the output stream
    /// (rows, hidden), owned by the tape and valid until its next forward.
    public func forward(_ x: UnsafePointer<T>, layout: SequenceLayout, layerCount: Int? = nil, tape: Tape) -> UnsafeMutablePointer<T> {
        let count = layerCount ?? layers.count
        precondition(count >= 0 && count <= layers.count, "TransformerStack: \(count) of \(layers.count) layers")
        let elements = layout.rows * hidden
        tape.prepare(layers: count, tapes: recompute ? min(count, 1) : count)
        tape.layersRun = count
        tape.sharedTapeLayer = recompute && count > 0 ? count - 1 : nil
        let input = tape.streams[0].reserve(elements)
        input.update(from: x, count: elements)
        for l in 0..<count {
            layers[l].forward(tape.streams[l].pointer, layout: layout, into: tape.streams[l + 1].reserve(elements),
                              tape: tape.layerTape(l, recompute: recompute))
        }
        return tape.streams[count].pointer
    }

    /// Backward through the layers the last forward ran. dOut: (rows, hidden) gradient of the
    /// output stream; dx: (rows, hidden) += gradient of the stack input, or nil when no one needs it.
    public func backward(_ dOut: UnsafePointer<T>, layout: SequenceLayout, dx: UnsafeMutablePointer<T>?,
                         tape: Tape, scratch: StackScratch<T>) {
        let elements = layout.rows * hidden
        var current = scratch.streamA.reserve(elements)
        var previous = scratch.streamB.reserve(elements)
        current.update(from: dOut, count: elements)
        // The top layer ran last, so the shared tape still holds its activations: no re-run for it.
        // (A backward consumes a tape, so the next backward needs a forward first, as without recompute.)
        let taped = tape.sharedTapeLayer
        tape.sharedTapeLayer = nil
        for l in stride(from: tape.layersRun - 1, through: 0, by: -1) {
            let layerTape = tape.layerTape(l, recompute: recompute)
            if recompute && l != taped {
                // Refill the shared tape with layer l's activations: the forward line above, again.
                layers[l].forward(tape.streams[l].pointer, layout: layout, into: tape.recomputed.reserve(elements), tape: layerTape)
            }
            previous.update(repeating: 0, count: elements)
            layers[l].backward(current, input: tape.streams[l].pointer, layout: layout, dx: previous,
                               tape: layerTape, scratch: scratch.layer)
            swap(&current, &previous)
        }
        if let dx { for i in 0..<elements { dx[i] += current[i] } }
    }
}

/// Backward temporaries of a stack: two gradient streams used in turn plus the per-layer scratch.
public final class StackScratch<T: KernelScalar>: @unchecked Sendable {
    let streamA = GrowableBuffer<T>()
    let streamB = GrowableBuffer<T>()
    public let layer = TransformerLayer<T>.Scratch()
    public init() {}
}
