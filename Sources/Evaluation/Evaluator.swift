import Foundation
import Kernels
import ModelFiles
import Models

/// `discern eval`'s report; the JSON keys are the documented output format.
package struct EvalReport: Codable, Sendable {
    package var imageToText: RetrievalMetrics.Recall
    package var textToImage: RetrievalMetrics.Recall
    package var hardNegatives: [String: Double]
    package var images: Int
    package var captions: Int
    package var negativesPerType: [String: Int]
    package var model: String
    package var checkpoint: String?
    /// Scoring candidate captions by the model's own next-token likelihood (no embeddings): the
    /// reference for what a generative model knows. Retrieval over the first `images` images only.
    package var captionLikelihood: LikelihoodReport?

    package struct LikelihoodReport: Codable, Sendable {
        package var images: Int
        package var imageToText: RetrievalMetrics.Recall
        package var hardNegatives: [String: Double]
        enum CodingKeys: String, CodingKey { case images, imageToText = "image_to_text", hardNegatives = "hard_negatives" }
    }

    package init(imageToText: RetrievalMetrics.Recall, textToImage: RetrievalMetrics.Recall, hardNegatives: [String: Double],
                images: Int, captions: Int, negativesPerType: [String: Int], model: String, checkpoint: String?,
                captionLikelihood: LikelihoodReport?) {
        self.imageToText = imageToText
        self.textToImage = textToImage
        self.hardNegatives = hardNegatives
        self.images = images
        self.captions = captions
        self.negativesPerType = negativesPerType
        self.model = model
        self.checkpoint = checkpoint
        self.captionLikelihood = captionLikelihood
    }

    enum CodingKeys: String, CodingKey {
        case imageToText = "image_to_text", textToImage = "text_to_image", hardNegatives = "hard_negatives", images, captions
        case negativesPerType = "negatives_per_type", model, checkpoint, captionLikelihood = "caption_likelihood"
    }

    /// The table `discern eval` prints.
    package var table: String {
        func percent(_ x: Double) -> String { String(format: "%6.1f", 100 * x) }
        var lines = ["                         R@1    R@5   R@10",
                     "image -> text        \(percent(imageToText.r1)) \(percent(imageToText.r5)) \(percent(imageToText.r10))",
                     "text -> image        \(percent(textToImage.r1)) \(percent(textToImage.r5)) \(percent(textToImage.r10))"]
        if let likelihood = captionLikelihood {
            let r = likelihood.imageToText
            lines.append("likelihood i->t      \(percent(r.r1)) \(percent(r.r5)) \(percent(r.r10))   (reference, first \(likelihood.images) images)")
        }
        if !hardNegatives.isEmpty {
            lines.append("")
            lines.append("hard negatives (accuracy %)   embedding" + (captionLikelihood == nil ? "" : "   likelihood"))
            for (type, accuracy) in hardNegatives.sorted(by: { $0.key < $1.key }) {
                let reference = captionLikelihood?.hardNegatives[type].map { "      " + percent($0) } ?? ""
                lines.append("  " + type.padding(toLength: 26, withPad: " ", startingAt: 0) + "    " + percent(accuracy) + reference
                             + "   (\(negativesPerType[type] ?? 0) items)")
            }
        }
        lines.append("")
        lines.append("\(images) images, \(captions) captions")
        return lines.joined(separator: "\n")
    }
}

package enum Evaluator {
    package static func evaluate(_ set: EvalSet, embedder: Embedder, modelPath: String, checkpoint: String?,
                                likelihood: (scorer: CaptionScorer, images: Int)?, progress: ((String) -> Void)? = nil) throws -> EvalReport {
        let width = embedder.width
        progress?("embedding \(set.imageCount) images")
        let images = set.images.isEmpty ? try embedder.embedPixels(set.pixels, count: set.imageCount) : try embedder.embedImages(set.images)
        progress?("embedding \(set.captions.count) captions and \(set.negatives.count) hard negatives")
        let captions = try embedder.embedTexts(set.captions)
        let negatives = try embedder.embedTexts(set.negatives.map(\.caption))
        var similarity = [Float](repeating: 0, count: set.imageCount * set.captions.count)
        images.withUnsafeBufferPointer { i in captions.withUnsafeBufferPointer { c in similarity.withUnsafeMutableBufferPointer { s in
            gemm(transB: true, m: set.imageCount, n: set.captions.count, k: width, i.baseAddress!, c.baseAddress!, s.baseAddress!)
        } } }
        let (i2t, t2i) = RetrievalMetrics.recall(similarity: similarity, images: set.imageCount, captionImage: set.captionImage)
        func dot(_ a: [Float], _ ai: Int, _ b: [Float], _ bi: Int) -> Float {
            var s: Float = 0
            for k in 0..<width { s += a[ai * width + k] * b[bi * width + k] }
            return s
        }
        var byType: [String: (positive: [Float], negative: [Float])] = [:]
        for (n, negative) in set.negatives.enumerated() {
            byType[negative.type, default: ([], [])].positive.append(dot(images, negative.image, captions, negative.positive))
            byType[negative.type, default: ([], [])].negative.append(dot(images, negative.image, negatives, n))
        }
        var report = EvalReport(imageToText: i2t, textToImage: t2i,
                                hardNegatives: byType.mapValues { RetrievalMetrics.accuracy(positive: $0.positive, negative: $0.negative) },
                                images: set.imageCount, captions: set.captions.count,
                                negativesPerType: byType.mapValues { $0.positive.count }, model: modelPath, checkpoint: checkpoint,
                                captionLikelihood: nil)
        if let (scorer, count) = likelihood, count > 0 {
            report.captionLikelihood = try likelihoodReference(set, scorer: scorer, images: min(count, set.imageCount), progress: progress)
        }
        return report
    }

    static func likelihoodReference(_ set: EvalSet, scorer: CaptionScorer, images: Int, progress: ((String) -> Void)?) throws -> EvalReport.LikelihoodReport {
        let perImage = set.pixels.count / max(set.imageCount, 1)
        // Retrieval among the captions of the first `images` images.
        let captionIndices = set.captionImage.indices.filter { set.captionImage[$0] < images }
        let candidates = captionIndices.map { set.captions[$0] }
        progress?("likelihood reference: \(images) images x \(candidates.count) captions")
        var similarity: [Float] = []
        for i in 0..<images {
            let scores = try set.pixels.withUnsafeBufferPointer { try scorer.scores(image: $0.baseAddress! + i * perImage, captions: candidates) }
            similarity += scores.map { Float($0) }
        }
        let (i2t, _) = RetrievalMetrics.recall(similarity: similarity, images: images, captionImage: captionIndices.map { set.captionImage[$0] })
        progress?("likelihood reference: \(set.negatives.count) hard negatives")
        var byType: [String: (positive: [Float], negative: [Float])] = [:]
        for negative in set.negatives {
            let scores = try set.pixels.withUnsafeBufferPointer {
                try scorer.scores(image: $0.baseAddress! + negative.image * perImage, captions: [set.captions[negative.positive], negative.caption])
            }
            byType[negative.type, default: ([], [])].positive.append(Float(scores[0]))
            byType[negative.type, default: ([], [])].negative.append(Float(scores[1]))
        }
        return EvalReport.LikelihoodReport(images: images, imageToText: i2t,
                                           hardNegatives: byType.mapValues { RetrievalMetrics.accuracy(positive: $0.positive, negative: $0.negative) })
    }
}
