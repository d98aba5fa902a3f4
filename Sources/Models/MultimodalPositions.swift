/// Qwen2-VL's multimodal rotary positions (M-RoPE), as transformers' `get_rope_index` computes
/// them, in three streams (time, height, width):
/// - a text row (token or soft prompt) gets the running index in all three streams;
/// - image k's rows, row-major over its token grid of R x C, get t = s, h = s + row,
///   w = s + column, where s is the index the next text row would have had; the text after
///   the image continues at s + max(R, C);
/// - each sequence counts from its first real row, so padding (either side) changes nothing;
///   padding rows get 0.
/// A sequence without images reduces to ordinary RoPE positions 0, 1, 2, ...
///   imageOffsets: images + 1 feature-row offsets (image k's rows are offsets[k]..<offsets[k+1])
///   tokenGrids: each image's token grid, rows * columns = its row count
///   positions: (3, rows), stream-major, overwritten
public func multimodalPositions(_ s: SequenceBatch, imageOffsets: [Int], tokenGrids: [PatchGrid], into positions: UnsafeMutablePointer<Int32>) {
    let rows = s.rows
    positions.update(repeating: 0, count: 3 * rows)
    for b in 0..<s.batch {
        var next = 0, currentImage = -1, start = 0
        for r in b * s.sequence..<(b + 1) * s.sequence where s.keyMask[r] != 0 {
            guard s.kinds[r] == .image else {
                currentImage = -1
                for stream in 0..<3 { positions[stream * rows + r] = Int32(next) }
                next += 1
                continue
            }
            let feature = Int(s.slots[r])
            let k = imageIndex(of: feature, offsets: imageOffsets)
            let grid = tokenGrids[k]
            if k != currentImage {
                currentImage = k
                start = next
                next = start + max(grid.rows, grid.columns)
            }
            let j = feature - imageOffsets[k]
            positions[r] = Int32(start)
            positions[rows + r] = Int32(start + j / grid.columns)
            positions[2 * rows + r] = Int32(start + j % grid.columns)
        }
    }
}

/// The image whose feature rows hold `feature` (offsets ascending; few images per batch).
private func imageIndex(of feature: Int, offsets: [Int]) -> Int {
    precondition(offsets.count >= 2 && feature >= 0 && feature < offsets[offsets.count - 1],
                 "image feature row \(feature) outside the batch's \(offsets.last ?? 0) rows")
    var k = 0
    while feature >= offsets[k + 1] { k += 1 }
    return k
}
