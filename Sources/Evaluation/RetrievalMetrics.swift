/// Recall@K in both directions and hard-negative accuracy (docs/method.md section 8).
package enum RetrievalMetrics {
    package struct Recall: Codable, Sendable, Equatable {
        package var r1: Double, r5: Double, r10: Double
        package init(r1: Double, r5: Double, r10: Double) {
            self.r1 = r1
            self.r5 = r5
            self.r10 = r10
        }
    }

    /// similarity: (images, captions) row-major; captionImage[c] = the image caption c describes.
    /// image->text: an image is found at K when ANY of its captions ranks within the top K.
    /// text->image: a caption is found at K when its image ranks within the top K.
    /// Ties count against the query (a tie with a wrong item ranks the right one after it).
    package static func recall(similarity: [Float], images: Int, captionImage: [Int]) -> (imageToText: Recall, textToImage: Recall) {
        let captions = captionImage.count
        precondition(similarity.count == images * captions, "similarity must be images x captions")
        var imageRanks: [Int] = []
        for i in 0..<images {
            let own = (0..<captions).filter { captionImage[$0] == i }
            guard !own.isEmpty else { continue }   // an image without captions is not a query
            let best = own.map { similarity[i * captions + $0] }.max()!
            // Rank of the best own caption: wrong captions scoring at least as high come first.
            let rank = (0..<captions).filter { captionImage[$0] != i && similarity[i * captions + $0] >= best }.count
            imageRanks.append(rank)
        }
        var captionRanks: [Int] = []
        for c in 0..<captions {
            let target = similarity[captionImage[c] * captions + c]
            let rank = (0..<images).filter { $0 != captionImage[c] && similarity[$0 * captions + c] >= target }.count
            captionRanks.append(rank)
        }
        func recall(_ ranks: [Int]) -> Recall {
            func at(_ k: Int) -> Double { ranks.isEmpty ? 0 : Double(ranks.filter { $0 < k }.count) / Double(ranks.count) }
            return Recall(r1: at(1), r5: at(5), r10: at(10))
        }
        return (recall(imageRanks), recall(captionRanks))
    }

    /// Fraction of items whose image is strictly closer to the positive caption than to the negative.
    package static func accuracy(positive: [Float], negative: [Float]) -> Double {
        precondition(positive.count == negative.count)
        guard !positive.isEmpty else { return 0 }
        return Double(zip(positive, negative).filter { $0 > $1 }.count) / Double(positive.count)
    }
}
