import Foundation
import ModelFiles
import Models

/// Embedding rows are rounded up to a multiple of this, as Qwen2-VL's 151936 rows hold 151657
/// tokens: rows past the tokenizer exist and are never looked up.
let qwen2VLVocabularyMultiple = 64

/// Biases start at N(0, 0.02) rather than transformers' zeros, so every bias (q/k/v, the vision
/// blocks', the merger's) changes the output and a check against transformers sees each one used.
let qwen2VLBiasStd = 0.02

/// Writes a new Qwen2-VL model directory (config.json in transformers 5's nested form,
/// preprocessor_config.json, the ByteLevelTokenizerBuilder tokenizer.json, model.safetensors in
/// float32 under the hub layout's names) atomically, as `writeInitialModel` does. Weights as
/// Qwen2VLForConditionalGeneration(config) starts (initializer_range 0.02 for every matrix and
/// embedding, norm weights 1) but for the biases (qwen2VLBiasStd).
package func writeInitialQwen2VLModel(preset: Qwen2VLPreset, directory: String, words: [String], seed: UInt64,
                                     force: Bool) throws -> InitialModelSummary {
    let (target, exists) = try newModelDirectory(directory, force: force, otherPlace: "another --output",
                                                 whenNotEmpty: "pass --force to replace it")
    let made = try InitModelPreset.qwen2VL(preset).newModelFiles(vocabularySize: nil, words: words)
    let staging = try stageModelDirectory(target, files: made.texts)
    let parameters = try writeRandomWeights(made.config.modelDescription, in: staging) { name, shape in
        initialTensor(name: name, shape: shape, config: made.config, padTokenID: nil, seed: seed)
    }
    // Strict load-back of every file: names, shapes, the processor against the model, the
    // tokenizer's ids against the vocabulary.
    let written = try ModelDirectory(path: staging.path)
    _ = try written.loadModel(as: Float.self)
    _ = try written.promptBuilder()
    try moveIntoPlace(staging, target, replacing: exists)
    return InitialModelSummary(directory: target.path, family: written.family, parameters: parameters)
}
