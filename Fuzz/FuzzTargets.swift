@testable import DataImport
import Datasets
import Checkpointing
import Configuration
import Formats
import Foundation
import ModelFiles
import Models
import Training

/// One parser under fuzzing: the real entry point a command uses, fed the fuzzer's bytes.
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable ([UInt8]) -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "safetensors", run: fuzzSafetensors),
        FuzzTarget(name: "tokenizer", run: fuzzTokenizer),
        FuzzTarget(name: "config-json", run: fuzzModelConfig),
        FuzzTarget(name: "yaml", run: fuzzRunConfig),
        FuzzTarget(name: "manifest", run: fuzzManifestLine),
        FuzzTarget(name: "dataset-json", run: fuzzDatasetDescription),
        FuzzTarget(name: "checkpoint", run: fuzzCheckpoint),
        FuzzTarget(name: "webdataset", run: fuzzWebDataset),
    ]
}

/// A header that parses is also read tensor by tensor, as model loading does.
func fuzzSafetensors(_ bytes: [UInt8]) {
    guard let file = try? SafetensorsFile(path: scratchFile("model.safetensors", bytes)) else { return }
    for name in file.names { _ = try? file.floats(name) }
}

/// A tokenizer that loads is used, as prompts and captions use it.
func fuzzTokenizer(_ bytes: [UInt8]) {
    guard let tokenizer = try? Tokenizer(json: bytes, path: "tokenizer.json") else { return }
    let ids = tokenizer.encode("USER: <image>\na red circle left of a blue square. ASSISTANT:")
    _ = tokenizer.decode(ids)
}

func fuzzModelConfig(_ bytes: [UInt8]) {
    _ = try? LlavaConfig.parse(Data(bytes), source: "config.json")
}

/// The run configuration as `train` resolves it: YAML, then the settings derived from it.
func fuzzRunConfig(_ bytes: [UInt8]) {
    guard let config = try? ResolvedConfig.parse(yaml: String(decoding: bytes, as: UTF8.self), source: "run.yaml") else { return }
    _ = try? RunSettings(config, softPromptLengths: (image: 4, text: 4), worldSize: 2)
}

func fuzzManifestLine(_ bytes: [UInt8]) {
    _ = ManifestEntry.parse(bytes[...], line: 1, baseDirectory: scratchDirectory)
}

func fuzzDatasetDescription(_ bytes: [UInt8]) {
    _ = scratchFile(ShardSchema.descriptionFile, bytes)
    _ = try? DatasetDescription.load(directory: scratchDirectory)
}

/// CheckpointFile.read goes through libhdf5, so the bytes go to a real file first.
func fuzzCheckpoint(_ bytes: [UInt8]) {
    _ = try? CheckpointFile.read(scratchFile("step-00000001.h5", bytes))
}

/// A tar shard as `prepare --webdataset` imports it: members grouped, images decoded, staged, then
/// the split assembled (into a fresh output folder each time).
func fuzzWebDataset(_ bytes: [UInt8]) {
    let shard = scratchFile("shard.tar", bytes), output = scratchDirectory + "/webdataset-out"
    try? FileManager.default.removeItem(atPath: output)
    let options = WebDatasetImportOptions(ManifestImportOptions(imageSize: 8, threads: 1),
                                          captionFields: WebDatasetCaptionFields(short: "caption", long: "long"))
    _ = try? importWebDataset([shard], into: output, options: options)
}

/// A folder of this process for the targets that read files.
let scratchDirectory: String = {
    let path = NSTemporaryDirectory() + "discern-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()

/// Writes `bytes` to `name` in the scratch folder (replacing it) and returns the path.
func scratchFile(_ name: String, _ bytes: [UInt8]) -> String {
    let path = scratchDirectory + "/" + name
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(descriptor >= 0, "cannot write \(path): errno \(errno)")
    var written = 0
    while written < bytes.count {
        let result = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, $0.count - written) }
        precondition(result > 0, "cannot write \(path): errno \(errno)")
        written += result
    }
    close(descriptor)
    return path
}
