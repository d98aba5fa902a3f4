import RealModule

/// Elementwise activations. Every backward takes the forward INPUT x (not the output y) and
/// adds dy * f'(x) into dx, so the caller keeps one saved tensor per activation.
/// count is the number of elements; all buffers are (count).

/// The activations a Hugging Face config names in `hidden_act` / `projector_hidden_act`.
public enum ActivationFunction: Sendable, Equatable {
    /// "gelu": x * Phi(x) with the exact normal CDF (erf).
    case gelu
    /// "gelu_pytorch_tanh" / "gelu_new": the tanh approximation of GELU.
    case geluTanh
    /// "quick_gelu": x * sigmoid(1.702 x), OpenAI CLIP's.
    case quickGelu
    /// "silu" / "swish": x * sigmoid(x).
    case silu

    /// nil for a name Discern does not implement; the config loader turns that into an error
    /// that names the key.
    public init?(huggingFaceName name: String) {
        switch name {
        case "gelu": self = .gelu
        case "gelu_pytorch_tanh", "gelu_new": self = .geluTanh
        case "quick_gelu": self = .quickGelu
        case "silu", "swish": self = .silu
        default: return nil
        }
    }
}

/// y = f(x) for the chosen activation.
@inlinable
public func activationForward<T: KernelScalar>(
    _ function: ActivationFunction,
    x: UnsafePointer<T>, y: UnsafeMutablePointer<T>, count: Int  // x, y: (count)
) {
    switch function {
    case .gelu: geluForward(x: x, y: y, count: count)
    case .geluTanh: geluTanhForward(x: x, y: y, count: count)
    case .quickGelu: quickGeluForward(x: x, y: y, count: count)
    case .silu: siluForward(x: x, y: y, count: count)
    }
}

/// dx += dy * f'(x) for the chosen activation.
@inlinable
public func activationBackward<T: KernelScalar>(
    _ function: ActivationFunction,
    dy: UnsafePointer<T>, x: UnsafePointer<T>, dx: UnsafeMutablePointer<T>, count: Int  // all (count)
) {
    switch function {
    case .gelu: geluBackward(dy: dy, x: x, dx: dx, count: count)
    case .geluTanh: geluTanhBackward(dy: dy, x: x, dx: dx, count: count)
    case .quickGelu: quickGeluBackward(dy: dy, x: x, dx: dx, count: count)
    case .silu: siluBackward(dy: dy, x: x, dx: dx, count: count)
    }
}

/// 1 / (1 + exp(-x)). For very negative x, exp overflows to +inf and the result is exactly 0,
/// never NaN, so callers need no special case.
@inlinable
func logisticSigmoid<T: KernelScalar>(_ x: T) -> T { 1 / (1 + T.exp(-x)) }

// MARK: GELU, exact

/// y = 0.5 x (1 + erf(x / sqrt 2))
@inlinable
public func geluForward<T: KernelScalar>(x: UnsafePointer<T>, y: UnsafeMutablePointer<T>, count: Int) {
    let invSqrt2: T = 0.70710678118654752440
    parallelFor(count, grain: elementwiseParallelGrain) { range in
        for i in range { y[i] = 0.5 * x[i] * (1 + T.erf(x[i] * invSqrt2)) }
    }
}

/// Differentiates y = 0.5 x (1 + erf(x / sqrt 2)): y' = Phi(x) + x * phi(x), phi the normal pdf.
@inlinable
public func geluBackward<T: KernelScalar>(
    dy: UnsafePointer<T>, x: UnsafePointer<T>, dx: UnsafeMutablePointer<T>, count: Int
) {
    let invSqrt2: T = 0.70710678118654752440, invSqrt2Pi: T = 0.39894228040143267794
    parallelFor(count, grain: elementwiseParallelGrain) { range in
        for i in range {
            let v = x[i]
            let cdf = 0.5 * (1 + T.erf(v * invSqrt2))
            let pdf = invSqrt2Pi * T.exp(-0.5 * v * v)
            dx[i] += dy[i] * (cdf + v * pdf)
        }
    }
}

// MARK: GELU, tanh approximation

/// y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
@inlinable
public func geluTanhForward<T: KernelScalar>(x: UnsafePointer<T>, y: UnsafeMutablePointer<T>, count: Int) {
    let sqrt2OverPi: T = 0.79788456080286535588, cubic: T = 0.044715
    parallelFor(count, grain: elementwiseParallelGrain) { range in
        for i in range {
            let v = x[i]
            y[i] = 0.5 * v * (1 + T.tanh(sqrt2OverPi * (v + cubic * v * v * v)))
        }
    }
}

/// Differentiates y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3):
/// y' = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t = tanh(u).
@inlinable
public func geluTanhBackward<T: KernelScalar>(
    dy: UnsafePointer<T>, x: UnsafePointer<T>, dx: UnsafeMutablePointer<T>, count: Int
) {
    let sqrt2OverPi: T = 0.79788456080286535588, cubic: T = 0.044715
    parallelFor(count, grain: elementwiseParallelGrain) { range in
        for i in range {
            let v = x[i]
            let t = T.tanh(sqrt2OverPi * (v + cubic * v * v * v))
            let du = sqrt2OverPi * (1 + 3 * cubic * v * v)
            dx[i] += dy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du)
        }
    }
}

// MARK: QuickGELU

/// y = x * sigmoid(1.702 x)
@inlinable
public func quickGeluForward<T: KernelScalar>(x: UnsafePointer<T>, y: UnsafeMutablePointer<T>, count: Int) {
    let k: T = 1.702
    if let (x, y) = asFloat(x, y) {
        parallelFor(count, grain: elementwiseParallelGrain) { range in
            forEachLane(range, lanes: { i in let v = x.load8(i); y.store8(v * sigmoid8(1.702 * v), i) },
                        scalar: { i in y[i] = x[i] * logisticSigmoid(1.702 * x[i]) })
        }
        return
    }
    parallelFor(count, grain: elementwiseParallelGrain) { range in
        for i in range { y[i] = x[i] * logisticSigmoid(k * x[i]) }
    }
}

/// Differentiates y = x * s, s = sigmoid(1.702 x): y' = s + 1.702 x s (1 - s).
@inlinable
public func quickGeluBackward<T: KernelScalar>(
    dy: UnsafePointer<T>, x: UnsafePointer<T>, dx: UnsafeMutablePointer<T>, count: Int
) {
    let k: T = 1.702
    if let (x, dx) = asFloat(x, dx), let dy = asFloat(dy) {
        parallelFor(count, grain: elementwiseParallelGrain) { range in
            forEachLane(range, lanes: { i in
                let v = x.load8(i), s = sigmoid8(1.702 * v)
                dx.store8(dx.load8(i) + dy.load8(i) * (s + 1.702 * v * s * (1 - s)), i)
            }, scalar: { i in
                let s = logisticSigmoid(1.702 * x[i])
                dx[i] += dy[i] * (s + 1.702 * x[i] * s * (1 - s))
            })
        }
        return
    }
    parallelFor(count, grain: elementwiseParallelGrain) { range in
        for i in range {
            let s = logisticSigmoid(k * x[i])
            dx[i] += dy[i] * (s + k * x[i] * s * (1 - s))
        }
    }
}

// MARK: SiLU

/// y = x * sigmoid(x)
@inlinable
public func siluForward<T: KernelScalar>(x: UnsafePointer<T>, y: UnsafeMutablePointer<T>, count: Int) {
    parallelFor(count, grain: elementwiseParallelGrain) { range in
        for i in range { y[i] = x[i] * logisticSigmoid(x[i]) }
    }
}

/// Differentiates y = x * s, s = sigmoid(x): y' = s (1 + x (1 - s)).
@inlinable
public func siluBackward<T: KernelScalar>(
    dy: UnsafePointer<T>, x: UnsafePointer<T>, dx: UnsafeMutablePointer<T>, count: Int
) {
    parallelFor(count, grain: elementwiseParallelGrain) { range in
        for i in range {
            let s = logisticSigmoid(x[i])
            dx[i] += dy[i] * (s * (1 + x[i] * (1 - s)))
        }
    }
}

// MARK: SwiGLU (Llama MLP: down(silu(gate(x)) * up(x)))

/// y = silu(gate) * up, elementwise; gate and up are the two projections' outputs.
@inlinable
public func swiGLUForward<T: KernelScalar>(
    gate: UnsafePointer<T>, up: UnsafePointer<T>,   // gate, up: (count)
    y: UnsafeMutablePointer<T>, count: Int          // y: (count)
) {
    if let (gate, y) = asFloat(gate, y), let up = asFloat(up) {
        parallelFor(count, grain: elementwiseParallelGrain) { range in
            forEachLane(range, lanes: { i in let g = gate.load8(i); y.store8(g * sigmoid8(g) * up.load8(i), i) },
                        scalar: { i in y[i] = gate[i] * logisticSigmoid(gate[i]) * up[i] })
        }
        return
    }
    parallelFor(count, grain: elementwiseParallelGrain) { range in
        for i in range { y[i] = gate[i] * logisticSigmoid(gate[i]) * up[i] }
    }
}

/// Differentiates y = silu(gate) * up: dgate += dy * up * silu'(gate), dup += dy * silu(gate).
@inlinable
public func swiGLUBackward<T: KernelScalar>(
    dy: UnsafePointer<T>,                           // dy: (count)
    gate: UnsafePointer<T>, up: UnsafePointer<T>,   // gate, up: (count), the forward inputs
    dGate: UnsafeMutablePointer<T>, dUp: UnsafeMutablePointer<T>,  // dGate, dUp: (count), +=
    count: Int
) {
    if let (gate, dGate) = asFloat(gate, dGate), let (up, dUp) = asFloat(up, dUp), let dy = asFloat(dy) {
        parallelFor(count, grain: elementwiseParallelGrain) { range in
            forEachLane(range, lanes: { i in
                let g = gate.load8(i), s = sigmoid8(g), d = dy.load8(i)
                dGate.store8(dGate.load8(i) + d * up.load8(i) * (s * (1 + g * (1 - s))), i)
                dUp.store8(dUp.load8(i) + d * (g * s), i)
            }, scalar: { i in
                let g = gate[i], s = logisticSigmoid(g)
                dGate[i] += dy[i] * up[i] * (s * (1 + g * (1 - s)))
                dUp[i] += dy[i] * (g * s)
            })
        }
        return
    }
    parallelFor(count, grain: elementwiseParallelGrain) { range in
        for i in range {
            let g = gate[i]
            let s = logisticSigmoid(g)
            dGate[i] += dy[i] * up[i] * (s * (1 + g * (1 - s)))
            dUp[i] += dy[i] * (g * s)
        }
    }
}

/// The Float views of generic pointers when T is Float (the training type), for the eight-lane
/// paths; nil for Double, which keeps the scalar library functions.
@inlinable
func asFloat<T: KernelScalar>(_ p: UnsafePointer<T>) -> UnsafePointer<Float>? {
    T.self == Float.self ? UnsafeRawPointer(p).assumingMemoryBound(to: Float.self) : nil
}

@inlinable
func asFloat<T: KernelScalar>(_ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>) -> (UnsafePointer<Float>, UnsafeMutablePointer<Float>)? {
    guard T.self == Float.self else { return nil }
    return (UnsafeRawPointer(input).assumingMemoryBound(to: Float.self), UnsafeMutableRawPointer(output).assumingMemoryBound(to: Float.self))
}
