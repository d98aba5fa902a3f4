import Layers

/// What fills each position of an LLM input sequence.
public enum RowKind: UInt8, Sendable {
    case padding = 0        // zeros, masked out of attention
    case token = 1          // slot = token id, looked up in embed_tokens
    case image = 2          // slot = row of the projected image features
    case imagePrompt = 3    // slot = row of the image soft prompt
    case textPrompt = 4     // slot = row of the text soft prompt
}

/// A batch of LLM input sequences, left-padded to one length, as the model consumes it.
/// Built once per step by the prompt assembly; every array has batch * sequence entries except
/// `poolRows` (batch).
public struct SequenceBatch: Sendable, Equatable {
    public let batch: Int
    public let sequence: Int
    public var kinds: [RowKind]
    public var slots: [Int32]
    /// 1 = real position, 0 = padding.
    public var keyMask: [UInt8]
    /// RoPE positions: 0..<sequence in every row, as transformers uses when no position_ids
    /// are given (left padding included; relative positions, hence results, are unaffected).
    public var positions: [Int32]
    /// Next-token targets per position (-100 = no loss), for the generative loss.
    public var targets: [Int32]
    /// Row (b * sequence + t) whose final hidden state is the sequence's embedding.
    public var poolRows: [Int]
    /// Position of each row inside its own item (-1 for padding): independent of batching.
    public var itemPositions: [Int32]
    /// One key per row for LoRA dropout masks (see `keyRows`), and the step's dropout seed;
    /// nil = no dropout (inference).
    public var rowKeys: [UInt64]
    public var dropoutSeed: UInt64?

    public init(batch: Int, sequence: Int) {
        self.batch = batch
        self.sequence = sequence
        let rows = batch * sequence
        kinds = Array(repeating: .padding, count: rows)
        slots = Array(repeating: 0, count: rows)
        keyMask = Array(repeating: 0, count: rows)
        positions = (0..<rows).map { Int32($0 % max(sequence, 1)) }
        targets = Array(repeating: -100, count: rows)
        poolRows = Array(repeating: 0, count: batch)
        itemPositions = Array(repeating: -1, count: rows)
        rowKeys = Array(repeating: 0, count: rows)
        dropoutSeed = nil
    }

    /// Turns on dropout for this batch: row keys from each sequence's sample key (its global
    /// index and pass, chosen by the caller) and the row's position in its own sequence, so masks
    /// do not depend on how samples were batched, padded or spread over ranks.
    public mutating func keyRows(sampleKeys: [UInt64], seed: UInt64) {
        precondition(sampleKeys.count == batch, "keyRows: \(sampleKeys.count) keys for \(batch) sequences")
        for r in 0..<rows where itemPositions[r] >= 0 {
            rowKeys[r] = mixBits(sampleKeys[r / sequence] ^ mixBits(UInt64(itemPositions[r])))
        }
        dropoutSeed = seed
    }

    public var rows: Int { batch * sequence }

    /// One sequence's items, written right-aligned (left padding) into row `b`.
    public struct Item: Sendable {
        public var kinds: [RowKind]
        public var slots: [Int32]
        public var targets: [Int32]
        public init(kinds: [RowKind] = [], slots: [Int32] = [], targets: [Int32] = []) {
            self.kinds = kinds
            self.slots = slots
            self.targets = targets
        }
        public mutating func append(_ kind: RowKind, _ slot: Int32, target: Int32 = -100) {
            kinds.append(kind); slots.append(slot); targets.append(target)
        }
        public var count: Int { kinds.count }
    }

    /// Where the padding of shorter items goes.
    public enum Padding: Sendable {
        /// Before the item, as transformers pads for inference: the RoPE positions of its real
        /// rows then depend on the batch (on its longest item), which attention cancels exactly in
        /// exact arithmetic but not in float rounding (a few 1e-7 relative).
        case left
        /// After the item: every real row keeps position = its index in the item whatever the
        /// batch, so a sequence's result does not depend on its neighbours at all (training uses
        /// this: any split of a batch over ranks and micro-batches gives the same numbers). Causal
        /// attention never lets a real row see the pads behind it.
        case right
    }

    /// Pads every item to the longest and pools at each item's `poolIndex` (default: its last
    /// position).
    public init(items: [Item], poolIndices: [Int]? = nil, padding side: Padding = .left) {
        let length = items.map(\.count).max() ?? 0
        self.init(batch: items.count, sequence: length)
        for (b, item) in items.enumerated() {
            let start = b * length + (side == .left ? length - item.count : 0)
            for t in 0..<item.count {
                let row = start + t
                kinds[row] = item.kinds[t]
                slots[row] = item.slots[t]
                targets[row] = item.targets[t]
                keyMask[row] = 1
                itemPositions[row] = Int32(t)
            }
            poolRows[b] = start + (poolIndices?[b] ?? item.count - 1)
        }
    }
}
