import Kernels

/// The position-wise MLP of a transformer layer:
///   CLIP:  y = fc2(act(fc1(x)))
///   Llama: y = down(silu(gate(x)) * up(x))
public final class FeedForward<T: KernelScalar>: @unchecked Sendable {
    public enum Kind: @unchecked Sendable {
        case plain(fc1: Linear<T>, activation: ActivationFunction, fc2: Linear<T>)
        case gated(gate: Linear<T>, up: Linear<T>, down: Linear<T>)
    }
    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    var intermediate: Int {
        switch kind {
        case .plain(let fc1, _, _): return fc1.outFeatures
        case .gated(let gate, _, _): return gate.outFeatures
        }
    }

    public final class Tape: @unchecked Sendable {
        let first = GrowableBuffer<T>()      // (rows, intermediate): fc1 output, or gate output
        let second = GrowableBuffer<T>()     // (rows, intermediate): up output (gated only)
        let activated = GrowableBuffer<T>()  // (rows, intermediate): input of fc2 / down
        let tapes = [Linear<T>.Tape(), Linear<T>.Tape(), Linear<T>.Tape()]
        public init() {}
    }

    /// x: (rows, hidden) -> y: (rows, hidden), overwritten.
    public func forward(_ x: UnsafePointer<T>, rows: Int, into y: UnsafeMutablePointer<T>, tape: Tape, dropout: DropoutContext? = nil) {
        let count = rows * intermediate
        let first = tape.first.reserve(count), activated = tape.activated.reserve(count)
        switch kind {
        case .plain(let fc1, let activation, let fc2):
            fc1.forward(x, rows: rows, into: first, tape: tape.tapes[0], dropout: dropout)
            activationForward(activation, x: first, y: activated, count: count)
            fc2.forward(activated, rows: rows, into: y, tape: tape.tapes[2], dropout: dropout)
        case .gated(let gate, let up, let down):
            let second = tape.second.reserve(count)
            gate.forward(x, rows: rows, into: first, tape: tape.tapes[0], dropout: dropout)
            up.forward(x, rows: rows, into: second, tape: tape.tapes[1], dropout: dropout)
            swiGLUForward(gate: first, up: second, y: activated, count: count)
            down.forward(activated, rows: rows, into: y, tape: tape.tapes[2], dropout: dropout)
        }
    }

    /// dx += d(loss)/dx; parameter gradients added when trainable.
    public func backward(_ dy: UnsafePointer<T>, input x: UnsafePointer<T>, rows: Int,
                         dx: UnsafeMutablePointer<T>?, tape: Tape, scratch: Scratch) {
        let count = rows * intermediate
        let dActivated = scratch.activated.reserveZeroed(count)
        switch kind {
        case .plain(let fc1, let activation, let fc2):
            // y = fc2(activated)  =>  dactivated;  activated = act(first)  =>  dfirst
            fc2.backward(dy, input: tape.activated.pointer, rows: rows, dx: dActivated, tape: tape.tapes[2], scratch: scratch.lora)
            let dFirst = scratch.first.reserveZeroed(count)
            activationBackward(activation, dy: dActivated, x: tape.first.pointer, dx: dFirst, count: count)
            fc1.backward(dFirst, input: x, rows: rows, dx: dx, tape: tape.tapes[0], scratch: scratch.lora)
        case .gated(let gate, let up, let down):
            // y = down(activated); activated = silu(gate) * up
            down.backward(dy, input: tape.activated.pointer, rows: rows, dx: dActivated, tape: tape.tapes[2], scratch: scratch.lora)
            let dGate = scratch.first.reserveZeroed(count), dUp = scratch.second.reserveZeroed(count)
            swiGLUBackward(dy: dActivated, gate: tape.first.pointer, up: tape.second.pointer, dGate: dGate, dUp: dUp, count: count)
            gate.backward(dGate, input: x, rows: rows, dx: dx, tape: tape.tapes[0], scratch: scratch.lora)
            up.backward(dUp, input: x, rows: rows, dx: dx, tape: tape.tapes[1], scratch: scratch.lora)
        }
    }
}

extension FeedForward {
    /// The backward's temporaries, shared by every layer of a stack.
    public final class Scratch: @unchecked Sendable {
        let activated = GrowableBuffer<T>()  // (rows, intermediate): gradient of fc2 / down's input
        let first = GrowableBuffer<T>()      // (rows, intermediate): of fc1 / gate's output
        let second = GrowableBuffer<T>()     // (rows, intermediate): of up's output
        let lora = GrowableBuffer<T>()
        public init() {}
    }
}
