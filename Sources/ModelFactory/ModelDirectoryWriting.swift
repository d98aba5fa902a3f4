import Formats
import Foundation
import Kernels
import Layers
import ModelFiles
import Models

// What every model directory written from nothing shares: where it goes, its staging folder,
// random float32 weights named by the model's own description, and the final rename.

/// Where a new model directory goes: `path` standardised, and whether something is there already.
/// A file there, or a non-empty directory without `force`, is refused with a message that names
/// the path and the fix (`whenNotEmpty`, or choosing `otherPlace`).
func newModelDirectory(_ path: String, force: Bool, otherPlace: String, whenNotEmpty: String) throws -> (target: URL, exists: Bool) {
    let files = FileManager.default
    let target = URL(fileURLWithPath: path).standardizedFileURL
    var isDirectory: ObjCBool = false
    let exists = files.fileExists(atPath: target.path, isDirectory: &isDirectory)
    if exists {
        guard isDirectory.boolValue else { throw ModelConfigError("\(target.path) exists and is a file; choose \(otherPlace).") }
        let contents = (try? files.contentsOfDirectory(atPath: target.path)) ?? []
        guard contents.isEmpty || force else {
            throw ModelConfigError("\(target.path) exists and is not empty; \(whenNotEmpty) or choose \(otherPlace).")
        }
    }
    return (target, exists)
}

/// Starts writing a model directory atomically: a fresh `<target>.tmp` (a leftover of an
/// interrupted run is removed) holding `files` (name -> text: config.json, tokenizer.json, ...);
/// the caller adds the weights and calls `moveIntoPlace`.
func stageModelDirectory(_ target: URL, files: [String: String]) throws -> URL {
    let manager = FileManager.default
    let staging = URL(fileURLWithPath: target.path + ".tmp")
    try? manager.removeItem(at: staging)
    do {
        try manager.createDirectory(at: staging, withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: staging.appendingPathComponent(name)) }
    } catch {
        throw ModelConfigError("\(staging.path): cannot write the model files (\(error.localizedDescription)); check the folder is writable and has room.")
    }
    return staging
}

/// Renames the checked staging folder to `target`, replacing what `newModelDirectory` found there.
func moveIntoPlace(_ staging: URL, _ target: URL, replacing exists: Bool) throws {
    do {
        if exists { try FileManager.default.removeItem(at: target) }
        try FileManager.default.moveItem(at: staging, to: target)
    } catch {
        throw ModelConfigError("\(target.path): cannot move the new model into place (\(error.localizedDescription)); it is left in \(staging.path).")
    }
}

/// Parameters of a written model by part of its description.
package struct ParameterCounts: Sendable {
    /// The vision tower (all its layers), the connector (LLaVA's projector, Qwen2-VL's merger) and
    /// the language model (embeddings and head included).
    package var vision: Int, connector: Int, language: Int
    package var total: Int { vision + connector + language }

    package init(_ description: ModelDescription) {
        vision = description.parameterCount(.vision)
        connector = description.parameterCount(.connector)
        language = description.parameterCount(.language)
    }
}

/// model.safetensors (float32) in `folder`: every tensor of `description`, in its order and under
/// its names, with the values `value(name, shape)` gives.
func writeRandomWeights(_ description: ModelDescription, in folder: URL, value: (String, [Int]) -> [Float]) throws -> ParameterCounts {
    var writer = SafetensorsWriter()
    for tensor in description.tensors {
        let values = value(tensor.name, tensor.shape)
        precondition(values.count == tensor.count, "\(tensor.name): \(values.count) values for shape \(tensor.shape)")
        try writer.add(tensor.name, shape: tensor.shape, floats: values)
    }
    try writer.write(to: folder.appendingPathComponent("model.safetensors").path)
    return ParameterCounts(description)
}

/// One tensor's initial values: norm weights 1, biases N(0, biasStd) (zero for 0), everything else
/// N(0, std), the pad token's embedding row zero (as nn.Embedding(padding_idx:) starts). Each
/// tensor draws from its own stream (seed, name), so adding a tensor changes no other.
func randomTensor(name: String, shape: [Int], std: Double, biasStd: Double, padTokenID: Int?, seed: UInt64) -> [Float] {
    let count = shape.reduce(1, *)
    if shape.count == 1 && !name.hasSuffix(".bias") && (name.contains("norm") || name.contains("layrnorm") || name.contains("ln_")) {
        return [Float](repeating: 1, count: count)
    }
    let deviation = name.hasSuffix(".bias") ? biasStd : std
    var random = Xoshiro256(seed: seed ^ stableHash(name))
    var values = [Float](repeating: 0, count: count)
    if deviation > 0 { for i in 0..<count { values[i] = Float(deviation * random.normal()) } }
    if name.hasSuffix("embed_tokens.weight"), let pad = padTokenID, pad < shape[0] {
        for i in 0..<shape[1] { values[pad * shape[1] + i] = 0 }
    }
    return values
}
