/// Token embedding lookup (nn.Embedding). Ids are validated when text is tokenised, so an id
/// outside the table here is a programmer error and stops the process with a precondition.

/// y[r] = table[ids[r]]
@inlinable
public func embeddingForward<T: KernelScalar>(
    ids: UnsafePointer<Int32>,        // ids: (rows)
    table: UnsafePointer<T>,          // table: (vocab, dim)
    y: UnsafeMutablePointer<T>,       // y: (rows, dim), overwritten
    rows: Int, vocab: Int, dim: Int
) {
    precondition(rows >= 0 && vocab >= 0 && dim >= 0, "embeddingForward: negative size")
    parallelFor(rows, grain: parallelRowGrain(rowLength: dim)) { range in
        for r in range {
            let id = Int(ids[r])
            precondition(id >= 0 && id < vocab, "embeddingForward: id \(id) at row \(r) is outside 0..<\(vocab)")
            (y + r * dim).update(from: table + id * dim, count: dim)
        }
    }
}

/// Differentiates y[r] = table[ids[r]]: dTable[ids[r]] += dy[r], summed over repeated ids.
/// A nil dTable (frozen embeddings) does nothing.
@inlinable
public func embeddingBackward<T: KernelScalar>(
    dy: UnsafePointer<T>,             // dy: (rows, dim)
    ids: UnsafePointer<Int32>,        // ids: (rows)
    dTable: UnsafeMutablePointer<T>?, // dTable: (vocab, dim), +=
    rows: Int, vocab: Int, dim: Int
) {
    precondition(rows >= 0 && vocab >= 0 && dim >= 0, "embeddingBackward: negative size")
    guard let dTable else { return }
    for r in 0..<rows {
        let id = Int(ids[r])
        precondition(id >= 0 && id < vocab, "embeddingBackward: id \(id) at row \(r) is outside 0..<\(vocab)")
    }
    // Repeated ids make rows collide, so workers split the columns, not the rows.
    parallelFor(dim, grain: parallelRowGrain(rowLength: rows)) { columns in
        for r in 0..<rows {
            let target = dTable + Int(ids[r]) * dim, source = dy + r * dim
            for i in columns { target[i] += source[i] }
        }
    }
}
