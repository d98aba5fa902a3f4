/// Scores loaded benchmarks with one embedder: every benchmark registers its images and texts in
/// one EmbeddingCache, one pass embeds the distinct ones, then each benchmark is scored from the
/// cached rows by BenchmarkMetrics / RetrievalMetrics.
package enum BenchmarkRunner {
    package static func run(_ benchmarks: [LoadedBenchmark], embedder: Embedder, model: String, checkpoint: String?,
                            say: ((String) -> Void)? = nil, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> BenchmarkReport {
        let cache = EmbeddingCache()
        let scorers = benchmarks.map { register($0, in: cache) }
        say?("embedding \(cache.imagePaths.count) distinct images and \(cache.texts.count) distinct texts")
        let total = cache.imagePaths.count + cache.texts.count
        progress?(0, total)
        try cache.embed(with: embedder) { progress?($0, total) }
        return BenchmarkReport(model: model, checkpoint: checkpoint, benchmarks: distinctNames(scorers.map { $0() }),
                               embeddedImages: cache.imagePaths.count, embeddedTexts: cache.texts.count)
    }

    /// Two benchmarks of one name (two SugarCrepe folders, say) become `name` and `name-2`, so
    /// `compare` and `summarize` keep their rows apart.
    static func distinctNames(_ results: [BenchmarkResult]) -> [BenchmarkResult] {
        var seen: [String: Int] = [:]
        return results.map { result in
            var renamed = result
            seen[result.name, default: 0] += 1
            if let count = seen[result.name], count > 1 { renamed.name += "-\(count)" }
            return renamed
        }
    }

    /// Registers what `benchmark` needs and returns how to score it once the cache is filled.
    static func register(_ benchmark: LoadedBenchmark, in cache: EmbeddingCache) -> () -> BenchmarkResult {
        var result = BenchmarkResult(name: benchmark.name, data: benchmark.data)
        switch benchmark.content {
        case .retrieval(let set):
            let images = set.imagePaths.map(cache.image), captions = set.captions.map(cache.text)
            return {
                let similarity = cache.similarities(images: images, texts: captions)
                let (i2t, t2i) = RetrievalMetrics.recall(similarity: similarity, images: images.count, captionImage: set.captionImage)
                result.retrieval = .init(split: set.split, images: images.count, captions: captions.count, imageToText: i2t, textToImage: t2i)
                return result
            }
        case .sugarCrepe(let set):
            let rows = set.categories.map { category in
                (category.name, category.items.map { (cache.image($0.image), cache.text($0.caption), cache.text($0.negative)) })
            }
            return {
                var accuracies: [String: Double] = [:], counts: [String: Int] = [:]
                for (name, items) in rows {
                    accuracies[name] = RetrievalMetrics.accuracy(positive: items.map { cache.similarity(image: $0.0, text: $0.1) },
                                                                 negative: items.map { cache.similarity(image: $0.0, text: $0.2) })
                    counts[name] = items.count
                }
                result.sugarcrepe = .init(categories: accuracies, groups: BenchmarkMetrics.sugarCrepeGroups(accuracies), items: counts,
                                          missing: set.missing)
                return result
            }
        case .winoground(let set):
            let rows = set.examples.map {
                (cache.image($0.images.0), cache.image($0.images.1), cache.text($0.captions.0), cache.text($0.captions.1))
            }
            return {
                let pairs = rows.map { i0, i1, c0, c1 in
                    BenchmarkMetrics.WinogroundPair(c0i0: cache.similarity(image: i0, text: c0), c0i1: cache.similarity(image: i1, text: c0),
                                                    c1i0: cache.similarity(image: i0, text: c1), c1i1: cache.similarity(image: i1, text: c1))
                }
                let scores = BenchmarkMetrics.winoground(pairs)
                result.winoground = .init(examples: pairs.count, text: scores.text, image: scores.image, group: scores.group)
                return result
            }
        }
    }
}
