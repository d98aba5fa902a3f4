/// Eight-lane Float versions of exp and the logistic sigmoid for the elementwise activations.
/// libm's scalar expf kept SwiGLU and QuickGELU at ~5% of a LoRA step; in lanes of 8 they are
/// a small fraction of that. Double (the finite-difference tests) keeps the scalar library path.

/// exp(x), Cephes' single-precision method: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two
/// parts so n ln2 is exact), a degree-6 polynomial for exp(r), and 2^n built in the exponent
/// bits. Relative error about 1e-7 (a couple of ulp) on [-87, 88]; inputs are clamped there, so
/// exp(-inf) gives 1.2e-38 instead of 0, which no caller can tell from 0 after the `1 + exp`
/// of the sigmoid.
@inlinable @inline(__always)
public func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Clamp with masks: the standard library's generic `clamped` is not inlined here.
    let low = SIMD8<Float>(repeating: -87), high = SIMD8<Float>(repeating: 88)
    let x = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
    // Adding 1.5 * 2^23 rounds x / ln2 to the nearest integer and leaves it in the low bits.
    let shifter = SIMD8<Float>(repeating: 12_582_912)
    let shifted = x * 1.442_695_04 + shifter
    let n = shifted - shifter
    let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let expR = p * (r * r) + r + 1
    let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(shifter, to: SIMD8<Int32>.self)
    let twoToN = unsafeBitCast((integer &+ 127) &<< 23, to: SIMD8<Float>.self)
    return expR * twoToN
}

/// 1 / (1 + exp(-x)) in eight lanes.
@inlinable @inline(__always)
public func sigmoid8(_ x: SIMD8<Float>) -> SIMD8<Float> { 1 / (1 + exp8(-x)) }

/// Runs `lanes` over every full group of 8 elements of 0..<count within `range` order and
/// `scalar` over the rest: the shape of every vectorised elementwise loop here.
@inlinable
func forEachLane(_ range: Range<Int>, lanes: (Int) -> Void, scalar: (Int) -> Void) {
    var i = range.lowerBound
    while i + 8 <= range.upperBound {
        lanes(i)
        i += 8
    }
    while i < range.upperBound {
        scalar(i)
        i += 1
    }
}

extension UnsafePointer where Pointee == Float {
    @inlinable func load8(_ i: Int) -> SIMD8<Float> { UnsafeRawPointer(self + i).loadUnaligned(as: SIMD8<Float>.self) }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inlinable func load8(_ i: Int) -> SIMD8<Float> { UnsafeRawPointer(self + i).loadUnaligned(as: SIMD8<Float>.self) }
    @inlinable func store8(_ value: SIMD8<Float>, _ i: Int) { UnsafeMutableRawPointer(self + i).storeBytes(of: value, as: SIMD8<Float>.self) }
}
