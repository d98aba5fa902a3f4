import RealModule

/// Rotary position embedding (RoPE) as Llama uses it in Hugging Face transformers: the
/// "rotate half" convention, where dimension i of a head is paired with dimension i + headDim/2
/// (not with its neighbour i + 1 as in the original RoFormer/Meta layout):
///
///   out = x * cos + rotate_half(x) * sin,   rotate_half(x) = cat(-x[d/2...], x[..<d/2])
///
/// i.e. for each pair (a, b) = (x[i], x[i + d/2]) with angle = position * invFreq[i]:
///   a' = a cos - b sin,   b' = b cos + a sin        (a rotation by +angle)

/// The cos/sin values for every position a run can see, built once and shared by all layers.
///   cos, sin: (maxPositions, headDim / 2), entry (p, i) = cos/sin(p * invFreq[i])
///
/// Positions come in one stream (RoPE: a token's index) or several (M-RoPE, Qwen2-VL: time,
/// row, column; the vision tower's 2-D rotary: row, column). `sections` says which stream each
/// rotary angle reads: angles 0..<sections[0] read stream 0, the next sections[1] stream 1, ...
/// The pairing of rotate_half is kept, so angle i drives dimensions i and i + headDim/2 (what
/// transformers gets by repeating the sections over the second half of the head).
///
/// Default frequencies are invFreq[i] = 1 / theta^(2i / headDim) for i in 0..<headDim/2, HF's
/// default rope (`rope_type: "default"`, no scaling). Like transformers, invFreq and the angle
/// position * invFreq[i] are computed in float32 whatever T is: every Llama was trained with
/// those float32 angles (which carry about position * 6e-8 radians of rounding). Their cos and
/// sin are then taken in Float64 and rounded to T, i.e. correctly rounded (transformers takes
/// them in float32, within an ulp of these).
public struct RotaryTable<T: KernelScalar>: Sendable {
    public let headDim: Int
    public let maxPositions: Int
    /// Angles per position stream, in order; they sum to headDim / 2.
    public let sections: [Int]
    /// cos(position * invFreq[i]): (maxPositions, headDim / 2)
    public let cos: Buffer<T>
    /// sin(position * invFreq[i]): (maxPositions, headDim / 2)
    public let sin: Buffer<T>

    /// One position stream with the default frequencies.
    public init(headDim: Int, maxPositions: Int, theta: Double) {
        precondition(theta > 0, "RotaryTable: theta \(theta) must be positive")
        self.init(headDim: headDim, maxPositions: maxPositions,
                  inverseFrequencies: rotaryInverseFrequencies(headDim: headDim, theta: theta), sections: [headDim / 2])
    }

    /// Angle i turns by position(stream of i) * inverseFrequencies[i]; `sections` as above.
    public init(headDim: Int, maxPositions: Int, inverseFrequencies: [Float], sections: [Int]) {
        precondition(headDim > 0 && headDim % 2 == 0, "RotaryTable: headDim \(headDim) must be positive and even")
        precondition(maxPositions > 0, "RotaryTable: maxPositions \(maxPositions) must be positive")
        precondition(inverseFrequencies.count == headDim / 2, "RotaryTable: \(inverseFrequencies.count) frequencies for head size \(headDim)")
        precondition(!sections.isEmpty && sections.allSatisfy { $0 >= 0 } && sections.reduce(0, +) == headDim / 2,
                     "RotaryTable: sections \(sections) must sum to headDim / 2 = \(headDim / 2)")
        self.headDim = headDim
        self.maxPositions = maxPositions
        self.sections = sections
        let half = headDim / 2
        cos = Buffer(count: maxPositions * half)
        sin = Buffer(count: maxPositions * half)
        for p in 0..<maxPositions {
            for i in 0..<half {
                let angle = Float(p) * inverseFrequencies[i]
                cos[p * half + i] = T(Double.cos(Double(angle)))
                sin[p * half + i] = T(Double.sin(Double(angle)))
            }
        }
    }

    /// Position streams the table reads.
    public var streams: Int { sections.count }
}

/// HF: 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)), every step in float32.
public func rotaryInverseFrequencies(headDim: Int, theta: Double) -> [Float] {
    (0..<headDim / 2).map { 1 / Float.pow(Float(theta), Float(2 * $0) / Float(headDim)) }
}

/// Rotates every head of every token by its token's position(s), in place.
///   x: (tokens, heads, table.headDim), overwritten with the rotated values
///   positions: (table.streams, tokens), stream-major, each in 0..<table.maxPositions. The
///     caller chooses them: HF uses 0..<T per sequence when no position_ids are passed, even
///     for left-padded rows.
@inlinable
public func rotaryForward<T: KernelScalar>(
    _ x: UnsafeMutablePointer<T>, tokens: Int, heads: Int,
    positions: UnsafePointer<Int32>, table: RotaryTable<T>
) {
    rotaryRotate(x, tokens: tokens, heads: heads, positions: positions, table: table, direction: 1)
}

/// Backward of `rotaryForward`, in place: the rotation is orthogonal, so the gradient with
/// respect to its input is the output gradient rotated by -angle (the transpose):
///   da = da' cos + db' sin,   db = db' cos - da' sin
/// Because the forward overwrote x, this overwrites the gradient buffer instead of adding:
/// on entry it holds d(loss)/d(rotated x), on exit d(loss)/d(x).
///   gradient: (tokens, heads, table.headDim)
///   positions: (table.streams, tokens), the same positions the forward used
@inlinable
public func rotaryBackward<T: KernelScalar>(
    _ gradient: UnsafeMutablePointer<T>, tokens: Int, heads: Int,
    positions: UnsafePointer<Int32>, table: RotaryTable<T>
) {
    rotaryRotate(gradient, tokens: tokens, heads: heads, positions: positions, table: table, direction: -1)
}

/// Rotation by direction * angle: +1 for the forward, -1 (sin negated) for the backward.
@inlinable
func rotaryRotate<T: KernelScalar>(
    _ x: UnsafeMutablePointer<T>, tokens: Int, heads: Int,
    positions: UnsafePointer<Int32>, table: RotaryTable<T>, direction: T
) {
    precondition(tokens >= 0 && heads >= 0, "rotary: negative shape (\(tokens), \(heads))")
    let headDim = table.headDim, half = headDim / 2
    let xs = SharedPointer(x), ps = SharedPointer(positions)
    let cosTable = SharedPointer(table.cos.pointer), sinTable = SharedPointer(table.sin.pointer)
    let maxPositions = table.maxPositions, sections = table.sections
    parallelFor(tokens, grain: max(1, 8_192 / max(heads * headDim, 1))) { range in
        for t in range {
            var first = 0
            for (stream, count) in sections.enumerated() {
                let position = Int(ps.pointer[stream * tokens + t])
                precondition(position >= 0 && position < maxPositions,
                             "rotary: position \(position) of token \(t) (stream \(stream)) outside the table's 0..<\(maxPositions)")
                let c = cosTable.pointer + position * half, s = sinTable.pointer + position * half
                for h in 0..<heads {
                    let row = xs.pointer + (t * heads + h) * headDim
                    for i in first..<first + count {
                        let a = row[i], b = row[i + half]
                        let sine = direction * s[i]
                        row[i] = a * c[i] - b * sine
                        row[i + half] = b * c[i] + a * sine
                    }
                }
                first += count
            }
        }
    }
}
