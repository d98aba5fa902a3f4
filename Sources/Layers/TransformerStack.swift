import Kernels

/// A stack of transformer layers, keeping the residual stream between layers for the backward.
public final class TransformerStack<T: KernelScalar>: @unchecked Sendable {
    public let layers: [TransformerLayer<T>]
    public let hidden: Int

    public init(layers: [TransformerLayer<T>], hidden: Int) {
        precondition(layers.allSatisfy { $0.hidden == hidden }, "TransformerStack: layers of different widths")
        self.layers = layers
        self.hidden = hidden
    }

    public final class Tape: @unchecked Sendable {
        var streams: [GrowableBuffer<T>] = []       // streams[i]: input of layer i; streams[n]: output
        var layerTapes: [TransformerLayer<T>.Tape] = []
        var layersRun = 0
        public init() {}

        func prepare(layers: Int) {
            while streams.count < layers + 1 { streams.append(GrowableBuffer<T>()) }
            while layerTapes.count < layers { layerTapes.append(TransformerLayer<T>.Tape()) }
        }
    }

    /// Runs the first `layerCount` layers on x: (rows, hidden) and returns the output stream
    /// (rows, hidden), owned by the tape and valid until its next forward.
    public func forward(_ x: UnsafePointer<T>, layout: SequenceLayout, layerCount: Int? = nil, tape: Tape) -> UnsafeMutablePointer<T> {
        let count = layerCount ?? layers.count
        precondition(count >= 0 && count <= layers.count, "TransformerStack: \(count) of \(layers.count) layers")
        let elements = layout.rows * hidden
        tape.prepare(layers: count)
        tape.layersRun = count
        let input = tape.streams[0].reserve(elements)
        input.update(from: x, count: elements)
        for l in 0..<count {
            layers[l].forward(tape.streams[l].pointer, layout: layout, into: tape.streams[l + 1].reserve(elements),
                              tape: tape.layerTapes[l])
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
        for l in stride(from: tape.layersRun - 1, through: 0, by: -1) {
            previous.update(repeating: 0, count: elements)
            layers[l].backward(current, input: tape.streams[l].pointer, layout: layout, dx: previous,
                               tape: tape.layerTapes[l], scratch: scratch.layer)
            swap(&current, &previous)
        }
        if let dx { for i in 0..<elements { dx[i] += current[i] } }
    }
}

/// Backward temporaries of a stack: two gradient streams used in turn plus the per-layer scratch.
public final class StackScratch<T: KernelScalar>: @unchecked Sendable {
    let streamA = GrowableBuffer<T>()
    let streamB = GrowableBuffer<T>()
    public let layer = BackwardScratch<T>()
    public init() {}
}
