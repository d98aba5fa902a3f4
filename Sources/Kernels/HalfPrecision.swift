/// bf16 and fp16 are storage formats here: every kernel computes in fp32, so 16-bit weights are
/// widened on load or per use (docs/model.md, memory options).

/// bf16 -> fp32 is exact: bf16 is the top half of an fp32.
@inlinable
public func widenBFloat16(_ source: UnsafePointer<UInt16>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { destination[i] = Float(bitPattern: UInt32(source[i]) << 16) }
}

/// fp32 -> bf16 with round-to-nearest-even, as torch does; NaN stays a (quiet) NaN.
@inlinable
public func narrowToBFloat16(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<UInt16>, count: Int) {
    for i in 0..<count { destination[i] = bfloat16Bits(source[i]) }
}

/// `narrowToBFloat16` over KernelThreads in large chunks, for the activations narrowed before each
/// bf16 GEMM (the loop already vectorises; at one thread this is the same loop inline).
///   source: (count), destination: (count) bf16 bit patterns, overwritten
@inlinable
public func narrowToBFloat16InParallel(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<UInt16>, count: Int) {
    precondition(count >= 0, "narrowToBFloat16InParallel: negative count \(count)")
    let input = SharedPointer(source), output = SharedPointer(destination)
    parallelFor(count, grain: 1 << 16) { range in
        narrowToBFloat16(input.pointer + range.lowerBound, output.pointer + range.lowerBound, count: range.count)
    }
}

@inlinable
public func bfloat16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
    let roundingBias: UInt32 = 0x7FFF + ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
}

/// IEEE half -> fp32, exact (subnormals, infinities and NaN included); bit for bit what
/// `float16Value` gives, but branch-free so the loop vectorises.
@inlinable
public func widenFloat16(_ source: UnsafePointer<UInt16>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { destination[i] = float16ValueBranchless(source[i]) }
}

/// `float16Value` with selects instead of branches (F. Giesen's half_to_float_fast): move
/// exponent and mantissa into fp32 position and rebias the exponent; infinity/NaN get the
/// all-ones exponent; zero and subnormals are rebuilt as (2^-14 + m * 2^-24) - 2^-14, which is
/// exact (Sterbenz) and never multiplies a subnormal operand (slow on x86).
@inlinable @inline(__always)
public func float16ValueBranchless(_ h: UInt16) -> Float {
    let bits = UInt32(h)
    let shifted = (bits & 0x7FFF) << 13            // exponent and mantissa in fp32 position
    let exponent = shifted & 0x0F80_0000
    let normal = shifted &+ 0x3800_0000            // exponent + (127 - 15)
    let special = normal &+ 0x3800_0000            // infinity / NaN: exponent 255
    let small = (Float(bitPattern: normal &+ 0x0080_0000) - Float(bitPattern: 0x3880_0000)).bitPattern
    let magnitude = exponent == 0x0F80_0000 ? special : (exponent == 0 ? small : normal)
    return Float(bitPattern: magnitude | (bits & 0x8000) << 16)
}

/// The two 16-bit storage formats of weight files.
public enum HalfFormat: String, Sendable, CaseIterable {
    case float16, bfloat16
}

/// Widens `count` 16-bit values at `source` to T, exactly (both formats are subsets of fp32).
/// `source` may have any alignment: a tensor in a memory-mapped safetensors file is only as
/// aligned as the file's header length makes it. Parallel over KernelThreads in large chunks.
///   source: (count) 16-bit values, destination: (count), overwritten
@inlinable
public func widenHalf<T: KernelScalar>(_ source: UnsafeRawPointer, format: HalfFormat, into destination: UnsafeMutablePointer<T>,
                                       count: Int) {
    precondition(count >= 0, "widenHalf: negative count \(count)")
    let input = SharedPointer(source.assumingMemoryBound(to: UInt8.self)), output = SharedPointer(destination)
    parallelFor(count, grain: 1 << 16) { range in
        let from = UnsafeRawPointer(input.pointer) + 2 * range.lowerBound, to = output.pointer + range.lowerBound
        if T.self == Float.self {
            let floats = UnsafeMutableRawPointer(to).assumingMemoryBound(to: Float.self)
            widenHalfToFloat(from, format: format, into: floats, count: range.count)
        } else {
            for i in 0..<range.count {
                let bits = from.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                to[i] = T(format == .float16 ? float16Value(bits) : Float(bitPattern: UInt32(bits) << 16))
            }
        }
    }
}

@inlinable
func widenHalfToFloat(_ source: UnsafeRawPointer, format: HalfFormat, into destination: UnsafeMutablePointer<Float>, count: Int) {
    if Int(bitPattern: source) % MemoryLayout<UInt16>.alignment == 0 {
        let halves = source.assumingMemoryBound(to: UInt16.self)
        switch format {
        case .float16: widenFloat16(halves, destination, count: count)
        case .bfloat16: widenBFloat16(halves, destination, count: count)
        }
        return
    }
    switch format {
    case .float16:
        for i in 0..<count { destination[i] = float16ValueBranchless(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
    case .bfloat16:
        for i in 0..<count { destination[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
    }
}

/// fp32 -> IEEE half with round-to-nearest-even; overflow gives infinity, as torch does.
@inlinable
public func narrowToFloat16(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<UInt16>, count: Int) {
    for i in 0..<count { destination[i] = float16Bits(source[i]) }
}

@inlinable
public func float16Value(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0x1F {  // infinity or NaN
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    if exponent == 0 {  // zero or subnormal: mantissa * 2^-24, exact in fp32
        let magnitude = Float(mantissa) * 0x1.0p-24
        return sign == 0 ? magnitude : -magnitude
    }
    return Float(bitPattern: sign | (UInt32(exponent - 15 + 127) << 23) | (mantissa << 13))
}

@inlinable
public func float16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xFF)
    var mantissa = bits & 0x7F_FFFF
    if exponent == 0xFF {  // infinity or NaN
        return sign | 0x7C00 | (mantissa != 0 ? 0x0200 | UInt16(truncatingIfNeeded: mantissa >> 13) : 0)
    }
    let halfExponent = exponent - 127 + 15
    if halfExponent >= 0x1F { return sign | 0x7C00 }  // overflow
    if halfExponent <= 0 {  // subnormal half or zero
        if halfExponent < -10 { return sign }
        mantissa |= 0x80_0000  // implicit leading one
        let shift = UInt32(14 - halfExponent)
        var half = mantissa >> shift
        let remainder = mantissa & ((1 << shift) - 1)
        let halfway: UInt32 = 1 << (shift - 1)
        if remainder > halfway || (remainder == halfway && (half & 1) == 1) { half += 1 }
        return sign | UInt16(truncatingIfNeeded: half)
    }
    var half = UInt32(halfExponent) << 10 | (mantissa >> 13)
    let remainder = mantissa & 0x1FFF
    if remainder > 0x1000 || (remainder == 0x1000 && (half & 1) == 1) { half += 1 }  // may carry into the exponent: correct
    return sign | UInt16(truncatingIfNeeded: half)
}
