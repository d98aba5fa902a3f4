import ArgumentParser
import Synthetic
import Foundation

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate the synthetic compositional data set (coloured shapes, relations, hard negatives): the embedded default.",
        discussion: "Writes DIR/train and DIR/eval shards (docs/data.md, docs/synthetic.md). Same seed and options, same bytes.")

    @Option(help: "Output data set directory.", transform: expandedPath) var output: String
    @Option(help: "Training pairs.") var train = 20_000
    @Option(help: "Evaluation images, one per distinct short caption, each with hard negatives.") var eval = 500
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Image side in pixels (the model's vision image_size).") var imageSize = 32
    @Option(help: "Most objects per scene (2-4).") var maxObjects = 3
    @Option(help: "Place objects on a GRID x GRID grid (a small object fills one cell, a large one 2 x 2 cells); 4 matches 32-pixel images with patch 8. 0 = free placement.")
    var grid = 0
    @Option(help: "With --grid: empty cells required between two objects for a relation between them to count as true (0: neighbours count).")
    var gridGap = 0
    @Flag(help: "Place every pair of objects in exactly one clearly true relation (no diagonal pairs).")
    var singleRelation = false
    @Flag(help: "Word short captions and their hard negatives relation first (\"left of a blue square is a red circle\"), so a model pre-trained on them reads the relation word.")
    var relationFirst = false
    @Option(help: "Comma-separated object sizes to draw from: small, large.")
    var sizes = SyntheticSize.allCases.map(\.rawValue).joined(separator: ",")
    @Flag(help: "Name sizes in the short captions (\"a small red circle ...\").") var sizesInCaptions = false
    @Flag(help: "Give every training pair one hard negative caption of a random type (stored, for loss.hard_negatives).") var trainNegatives = false
    @Flag(help: "With --train-negatives: store one hard negative of every type (that has a false edit) instead of one.")
    var everyTrainNegative = false
    @Option(help: "Comma-separated hard negative types for training pairs: replace_attribute, swap_attributes, swap_objects, replace_relation.")
    var trainNegativeTypes = HardNegativeType.allCases.map(\.rawValue).joined(separator: ",")
    @Flag(help: "Let an eval caption also fit other eval images (more distinct captions; retrieval then has several right answers).")
    var sharedEvalCaptions = false
    @Option(help: "Samples per shard file.") var samplesPerShard = 2_000
    @Option(help: "Rendering threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        let types = try parseList(trainNegativeTypes, option: "--train-negative-types", as: HardNegativeType.self)
        let sizeList = try parseList(sizes, option: "--sizes", as: SyntheticSize.self)
        var options = SyntheticOptions(maxObjects: maxObjects, sizes: sizeList, sizesInShortCaption: sizesInCaptions, grid: grid > 0 ? grid : nil, gridGap: gridGap,
                                       singleRelation: singleRelation, wording: relationFirst ? .relationFirst : .subjectFirst,
                                       trainNegatives: trainNegatives, everyTrainNegative: everyTrainNegative, trainNegativeTypes: types)
        options.rendering.imageSize = imageSize
        options.exclusiveEvalCaptions = !sharedEvalCaptions
        try options.validate()
        let dataset = try SyntheticDataset(seed: seed, options: options)
        let started = Date()
        // The full command line: the data set says how to make it again.
        let createdBy = (["discern"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        try dataset.write(to: output, train: train, eval: eval, samplesPerShard: samplesPerShard, createdBy: createdBy,
                          threads: threads) { done in
            FileHandle.standardError.write(Data(String(format: "\rsynth: %d/%d training pairs", done, train).utf8))
        }
        if train > 0 { FileHandle.standardError.write(Data("\n".utf8)) }
        print(String(format: "wrote %d training and %d evaluation pairs (%dx%d) to %@ in %.1f s", train, eval, imageSize, imageSize,
                     output, Date().timeIntervalSince(started)))
    }
}

/// A comma-separated option value as enum cases, naming the option and the valid names on a typo.
func parseList<Value: RawRepresentable & CaseIterable>(_ text: String, option: String, as _: Value.Type) throws -> [Value]
where Value.RawValue == String {
    try text.split(separator: ",").map { name in
        guard let value = Value(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("\(option): '\(name)' is not one of \(Value.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        return value
    }
}
