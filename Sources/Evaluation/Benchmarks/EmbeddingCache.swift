import Images
import Kernels

/// Each distinct image file and each distinct text embedded once per run, however many
/// benchmarks (or SugarCrepe categories, or Winoground examples) name it: the benchmarks
/// register what they need, one pass embeds it, and they read rows back by index.
package final class EmbeddingCache {
    private(set) package var imagePaths: [String] = [], texts: [String] = []
    private var imageRows: [String: Int] = [:], textRows: [String: Int] = [:]
    /// (imagePaths.count, width) and (texts.count, width), L2-normalised, after `embed`.
    private(set) package var images: [Float] = [], textEmbeddings: [Float] = []
    private(set) package var width = 0

    package init() {}

    package func image(_ path: String) -> Int { row(of: path, in: &imageRows, list: &imagePaths) }
    package func text(_ text: String) -> Int { row(of: text, in: &textRows, list: &texts) }

    private func row(of key: String, in rows: inout [String: Int], list: inout [String]) -> Int {
        if let known = rows[key] { return known }
        rows[key] = list.count
        list.append(key)
        return list.count - 1
    }

    /// Images are decoded a chunk at a time, so a 5,000-image split never sits in memory decoded.
    /// `done`: items embedded so far, images then texts (of imagePaths.count + texts.count).
    package func embed(with embedder: Embedder, imagesPerChunk: Int = 64, done: ((Int) -> Void)? = nil) throws {
        width = embedder.width
        images = []
        images.reserveCapacity(imagePaths.count * width)
        for start in stride(from: 0, to: imagePaths.count, by: imagesPerChunk) {
            let chunk = imagePaths[start..<min(start + imagesPerChunk, imagePaths.count)]
            images += try embedder.embedImages(try chunk.map { try loadImage(path: $0) })
            done?(start + chunk.count)
        }
        textEmbeddings = try embedder.embedTexts(texts) { done?(self.imagePaths.count + $0) }
    }

    /// Cosine similarity of image row `image` and text row `text` (both normalised): a 1x1 GEMM.
    package func similarity(image: Int, text: Int) -> Float {
        var result: Float = 0
        images.withUnsafeBufferPointer { i in textEmbeddings.withUnsafeBufferPointer { t in
            gemm(transB: true, m: 1, n: 1, k: width, i.baseAddress! + image * width, t.baseAddress! + text * width, &result)
        } }
        return result
    }

    /// (imageRows.count, textRows.count) row-major similarities, one GEMM.
    package func similarities(images imageRows: [Int], texts textRows: [Int]) -> [Float] {
        let a = gather(images, rows: imageRows), b = gather(textEmbeddings, rows: textRows)
        var result = [Float](repeating: 0, count: imageRows.count * textRows.count)
        a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in result.withUnsafeMutableBufferPointer { s in
            gemm(transB: true, m: imageRows.count, n: textRows.count, k: width, a.baseAddress!, b.baseAddress!, s.baseAddress!)
        } } }
        return result
    }

    private func gather(_ matrix: [Float], rows: [Int]) -> [Float] {
        var out = [Float](repeating: 0, count: rows.count * width)
        for (i, r) in rows.enumerated() { out.replaceSubrange(i * width..<(i + 1) * width, with: matrix[r * width..<(r + 1) * width]) }
        return out
    }
}
