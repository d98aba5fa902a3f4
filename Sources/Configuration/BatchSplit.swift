/// The global batch (`global_batch` pairs per step over all ranks) and each rank's share of it,
/// checked here once, when a run's settings are made; everything after takes it as given.
/// Rank r of W works on positions [r*B/W, (r+1)*B/W) of every global batch.
package struct BatchSplit: Sendable, Equatable {
    package let global: Int
    package let ranks: Int

    package init(global: Int, ranks: Int) throws {
        precondition(ranks > 0, "BatchSplit: \(ranks) ranks")
        guard global > 0 else { throw ConfigError("global_batch \(global) must be positive.") }
        guard global % ranks == 0 else {
            throw ConfigError("global_batch \(global) does not divide by the \(ranks) ranks; use a multiple of \(ranks).")
        }
        (self.global, self.ranks) = (global, ranks)
    }

    package var perRank: Int { global / ranks }

    /// The positions of the global batch that `rank` works on.
    package func positions(rank: Int) -> Range<Int> {
        precondition(rank >= 0 && rank < ranks, "BatchSplit: rank \(rank) outside 0..<\(ranks)")
        return (rank * perRank)..<((rank + 1) * perRank)
    }
}
