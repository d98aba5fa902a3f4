import RealModule

/// xoshiro256** generator: fast, statistically strong, and its whole state is four words, so a
/// checkpoint can store it and a resumed run continues the exact same stream.
public struct Xoshiro256: RandomNumberGenerator, Sendable, Equatable {
    public var state: (UInt64, UInt64, UInt64, UInt64)

    /// Seeds the four words from SplitMix64, as the xoshiro authors recommend; any seed,
    /// zero included, gives a valid non-zero state.
    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public init(state: [UInt64]) {
        precondition(state.count == 4, "Xoshiro256 state has four words")
        self.state = (state[0], state[1], state[2], state[3])
    }

    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    public static func == (a: Xoshiro256, b: Xoshiro256) -> Bool { a.stateWords == b.stateWords }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inlinable func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 53 random bits.
    @inlinable
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [low, high).
    @inlinable
    public mutating func uniform<T: KernelScalar>(_ low: T, _ high: T) -> T {
        low + (high - low) * T(nextUnit())
    }

    /// Standard normal by Box-Muller (one value per call; the pair's twin is discarded so the
    /// stream position depends only on the number of calls).
    @inlinable
    public mutating func normal<T: KernelScalar>() -> T {
        let u1 = max(nextUnit(), 0x1.0p-60)
        let u2 = nextUnit()
        return T(Double.sqrt(-2 * Double.log(u1)) * Double.cos(2 * Double.pi * u2))
    }
}
