/// transformers' rescale and normalise of 8-bit pixels, held as a table. transformers computes
/// float32(float64(byte) * factor), then (x - float32(mean)) / float32(std) in float32; a byte has
/// only 256 values, so the table reproduces that exactly.
struct PixelNormalisation: Sendable {
    /// values[channel * 256 + byte].
    private let values: [Float]

    /// `mean` and `std` hold one value per channel (R, G, B), already validated.
    init(rescaleFactor: Double, mean: [Double], std: [Double]) {
        precondition(mean.count == 3 && std.count == 3, "PixelNormalisation: 3 means and 3 stds")
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            let mean = Float(mean[c]), std = Float(std[c])
            for byte in 0..<256 {
                table[c * 256 + byte] = (Float(Double(byte) * rescaleFactor) - mean) / std
            }
        }
        values = table
    }

    /// Calls `body` with the table: entry channel * 256 + byte.
    func withTable<R>(_ body: (UnsafeBufferPointer<Float>) -> R) -> R {
        values.withUnsafeBufferPointer(body)
    }
}
