import Kernels

/// What makes LoRA dropout masks reproducible: a per-step seed and one key per input row that
/// names the row independently of batching (the sample's global index, the pass, the position in
/// its own sequence). The mask of element (row, column) of a module is a pure function of
/// (seed, module, row key, column), so 1, 2 or 3 ranks, any micro-batch size, and a resumed run
/// all draw the same masks.
public struct DropoutContext: @unchecked Sendable {
    public let seed: UInt64
    /// (rows) keys, one per row of the activations the layers see.
    public let rowKeys: UnsafePointer<UInt64>

    public init(seed: UInt64, rowKeys: UnsafePointer<UInt64>) {
        self.seed = seed
        self.rowKeys = rowKeys
    }

    /// True when element `column` of row `row` survives dropout with probability 1 - p.
    @inlinable
    public func keeps(module: UInt64, row: Int, column: Int, probability p: Double) -> Bool {
        let bits = mixBits(seed ^ mixBits(module ^ mixBits(rowKeys[row] ^ mixBits(UInt64(column) &+ 0x9E37_79B9_7F4A_7C15))))
        return Double(bits >> 11) * 0x1.0p-53 >= p
    }
}

/// SplitMix64's finaliser: a cheap, well-mixed 64-bit hash.
@inlinable
public func mixBits(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// FNV-1a of a string: a stable 64-bit key (module names for dropout masks, model fingerprints).
public func stableHash(_ name: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return hash
}
