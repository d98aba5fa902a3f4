/// The published benchmarks' scores from similarities alone, apart from any model so they can be
/// checked on hand-made numbers (docs/eval.md). Retrieval is RetrievalMetrics.recall.
package enum BenchmarkMetrics {
    /// SugarCrepe per category: the fraction of items whose image is strictly closer to the
    /// caption than to the negative caption; the group scores are the mean of the group's present
    /// categories (add: add_att, add_obj; replace: replace_att, replace_obj, replace_rel; swap:
    /// swap_att, swap_obj), as the paper's table reports them.
    package static func sugarCrepeGroups(_ accuracies: [String: Double]) -> [String: Double] {
        var groups: [String: Double] = [:]
        for group in SugarCrepeFiles.groups {
            let members = accuracies.filter { $0.key.hasPrefix(group + "_") }.map(\.value)
            if !members.isEmpty { groups[group] = members.reduce(0, +) / Double(members.count) }
        }
        return groups
    }

    /// One Winoground example's four similarities: s(caption_c, image_i).
    package struct WinogroundPair: Sendable {
        package var c0i0: Float, c0i1: Float, c1i0: Float, c1i1: Float
        package init(c0i0: Float, c0i1: Float, c1i0: Float, c1i1: Float) {
            (self.c0i0, self.c0i1, self.c1i0, self.c1i1) = (c0i0, c0i1, c1i0, c1i1)
        }
        /// Each image prefers its own caption.
        var text: Bool { c0i0 > c1i0 && c1i1 > c0i1 }
        /// Each caption prefers its own image.
        var image: Bool { c0i0 > c0i1 && c1i1 > c1i0 }
    }

    package struct WinogroundScores: Codable, Sendable, Equatable {
        package var text: Double, image: Double, group: Double
        package init(text: Double, image: Double, group: Double) { (self.text, self.image, self.group) = (text, image, group) }
    }

    /// Thrush et al. (2022): text score, image score, and group score (both at once), each the
    /// fraction of examples; ties fail.
    package static func winoground(_ pairs: [WinogroundPair]) -> WinogroundScores {
        func fraction(_ holds: (WinogroundPair) -> Bool) -> Double {
            pairs.isEmpty ? 0 : Double(pairs.filter(holds).count) / Double(pairs.count)
        }
        return WinogroundScores(text: fraction(\.text), image: fraction(\.image), group: fraction { $0.text && $0.image })
    }
}
