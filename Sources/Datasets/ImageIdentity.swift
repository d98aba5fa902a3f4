/// The identity of a sample's image for duplicate masking (`loss.mask_duplicates`): a 64-bit
/// hash of its stored pixels and size. Two samples whose stored images are byte-identical (the
/// same file on two manifest lines, or two copies of one picture) are the same image; hashing
/// what the shards hold needs nothing stored at prepare time, so every data set, old or new,
/// has it. Computed when a batch is read: one pass over bytes that were just read anyway.
package enum ImageIdentity {
    package static func key(_ pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int) -> UInt64 {
        var hash = BatchOrder.mix(UInt64(truncatingIfNeeded: width) << 32 ^ UInt64(truncatingIfNeeded: height))
        let words = pixels.count / 8
        let raw = UnsafeRawPointer(pixels.baseAddress)
        for w in 0..<words {
            // Eight bytes per step: the mix of the running hash and the next word.
            hash = BatchOrder.mix(hash ^ raw!.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self))
        }
        for index in (words * 8)..<pixels.count { hash = BatchOrder.mix(hash ^ UInt64(pixels[index])) }
        return hash
    }
}
