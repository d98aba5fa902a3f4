/// One thing every rank of a job must have identically (its configuration, its data set...),
/// compared across ranks by a digest of `text`.
package struct AgreementItem: Sendable {
    /// What the item is, for the message: "configuration", "data set".
    package let name: String
    /// The canonical text; only its digest travels, unless `detailed`.
    package let text: String
    /// What the user should do when ranks differ on it.
    package let hint: String
    /// When ranks differ, their texts are exchanged and compared line by line ("key: value"
    /// lines), so the message names every differing key with each rank's value.
    package let detailed: Bool

    package init(name: String, text: String, hint: String, detailed: Bool = false) {
        self.name = name
        self.text = text
        self.hint = hint
        self.detailed = detailed
    }
}

/// Ranks that disagree: every rank throws the same error at the same point, so the job can
/// stop cleanly (`runOrAbort` finalizes and exits instead of aborting).
package struct RanksDisagree: JobWideError, CustomStringConvertible {
    package let description: String
}

/// Compares items across ranks before they are used in any collective whose size depends on
/// them: one allGather of a fixed number of 64-bit digests, which cannot mismatch in size
/// whatever the ranks disagree about. Ranks that pass different item lists (another build
/// of discern) differ in the header digest and are reported as such.
package enum RankAgreement {
    /// Digests per rank: one header plus at most `slots - 1` items.
    package static let slots = 8
    /// Ranks whose detailed texts are exchanged besides rank 0, to bound the message.
    static let shownRanks = 3

    /// Returns when every rank passed identical items; otherwise throws the same
    /// `RanksDisagree` on every rank. Every rank must call it at the same point.
    package static func check(_ items: [AgreementItem], on communicator: Communicator) throws {
        precondition(items.count < slots, "RankAgreement: at most \(slots - 1) items, got \(items.count)")
        guard communicator.size > 1 else { return }
        var mine = [Int64](repeating: 0, count: slots)
        mine[0] = digest(items.map(\.name).joined(separator: "\n"))
        for (index, item) in items.enumerated() { mine[index + 1] = digest(item.text) }
        var all = [Int64](repeating: 0, count: slots * communicator.size)
        try mine.withUnsafeBufferPointer { send in
            try all.withUnsafeMutableBufferPointer { try communicator.allGather(send: send, receive: $0) }
        }
        let rows = (0..<communicator.size).map { Array(all[$0 * slots..<($0 + 1) * slots]) }
        let otherBuild = ranks(in: rows) { $0[0] != rows[0][0] }
        guard otherBuild.isEmpty else {
            throw RanksDisagree(description: "ranks disagree on what they check: \(rankList(otherBuild)) run a different "
                + "build of discern than rank 0; install the same build on every node.")
        }
        var problems: [String] = []
        for (index, item) in items.enumerated() {
            let differing = ranks(in: rows) { $0[index + 1] != rows[0][index + 1] }
            if differing.isEmpty { continue }
            problems.append(item.detailed ? try explainDetailed(item, differing: differing, on: communicator)
                                          : explain(item, rows: rows, column: index + 1))
        }
        guard problems.isEmpty else { throw RanksDisagree(description: problems.joined(separator: "\n")) }
    }

    /// Which ranks share which version, for items whose text is not exchanged.
    static func explain(_ item: AgreementItem, rows: [[Int64]], column: Int) -> String {
        var groups: [(digest: Int64, ranks: [Int])] = []
        for (rank, row) in rows.enumerated() {
            if let index = groups.firstIndex(where: { $0.digest == row[column] }) { groups[index].ranks.append(rank) }
            else { groups.append((row[column], [rank])) }
        }
        let versions = groups.enumerated().map { "\(rankList($0.element.ranks)) \($0.offset == 0 ? "one" : "another")" }
        return "ranks disagree on the \(item.name): \(versions.joined(separator: ", ")). \(item.hint)"
    }

    /// Rank 0's text and those of the first differing ranks go to every rank (the same
    /// broadcasts everywhere: the roots follow from the gathered digests), then every rank
    /// builds the same key-by-key difference.
    static func explainDetailed(_ item: AgreementItem, differing: [Int], on communicator: Communicator) throws -> String {
        let shown = [0] + differing.prefix(shownRanks)
        var texts: [Int: [(key: String, value: String)]] = [:]
        for root in shown {
            let text = try communicator.broadcast(communicator.rank == root ? item.text : "", root: root)
            texts[root] = keyValueLines(text)
        }
        let reference = texts[0]!
        var keys = reference.map(\.key)
        for rank in shown.dropFirst() { keys += texts[rank]!.map(\.key).filter { !keys.contains($0) } }
        var lines: [String] = []
        for key in keys {
            let values = shown.map { rank in texts[rank]!.first { $0.key == key }?.value ?? "(absent)" }
            if Set(values).count > 1 {
                lines.append("  \(key): " + zip(shown, values).map { "rank \($0) \($1)" }.joined(separator: ", "))
            }
        }
        let more = differing.count > shownRanks ? "\n  (\(differing.count - shownRanks) more rank(s) differ from rank 0)" : ""
        return "ranks disagree on their \(item.name):\n" + lines.joined(separator: "\n") + more + "\n  \(item.hint)"
    }

    /// "key: value" lines; a line without the separator is its own key.
    static func keyValueLines(_ text: String) -> [(key: String, value: String)] {
        text.split(separator: "\n").map { line in
            guard let separator = line.range(of: ": ") else { return (String(line), "") }
            return (String(line[..<separator.lowerBound]), String(line[separator.upperBound...]))
        }
    }

    static func ranks(in rows: [[Int64]], where differs: ([Int64]) -> Bool) -> [Int] {
        rows.indices.filter { differs(rows[$0]) }
    }

    static func rankList(_ ranks: [Int]) -> String {
        (ranks.count == 1 ? "rank " : "ranks ") + ranks.map(String.init).joined(separator: ", ")
    }

    /// 64-bit FNV-1a of the UTF-8 bytes: stable across runs, builds and platforms. Not a
    /// security hash; it detects accidental differences, which is all a job needs.
    package static func digest(_ text: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return Int64(bitPattern: hash)
    }
}
