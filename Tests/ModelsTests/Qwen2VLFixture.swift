import Foundation
import Formats
import Kernels
import Layers
import ModelFiles
import Models

/// One of the two tiny Qwen2-VL models of Tests/Reference/make_qwen2vl_fixtures.py and what
/// transformers computed on it (float64).
struct Qwen2VLFixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    let url: URL
    let config: Qwen2VLConfig
    let tensors: SafetensorsFile
    let meta: [String: Any]

    init(_ name: String) throws {
        url = Self.root.appendingPathComponent(name)
        config = try Qwen2VLConfig.load(directory: url)
        tensors = try SafetensorsFile(path: url.appendingPathComponent("fixtures.safetensors").path)
        meta = try JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent("fixtures.json"))) as! [String: Any]
    }

    var imageSuffixLength: Int { meta["image_suffix_length"] as! Int }
    var textSuffixLength: Int { meta["text_suffix_length"] as! Int }
    var lora: LoRASettings {
        let lora = meta["lora"] as! [String: Any]
        return LoRASettings(rank: lora["r"] as! Int, alpha: (lora["alpha"] as! NSNumber).doubleValue)
    }

    func doubles(_ name: String) throws -> [Double] { try tensors.float64s(name) }

    /// The model with the directory's weights (strictly matched) and `trainable`'s parameters.
    func model<T: KernelScalar>(trainable: TrainableSet = .frozen, memory: ModelMemoryOptions = ModelMemoryOptions(),
                                as: T.Type = T.self) throws -> VisionLanguageModel<T> {
        try VisionLanguageModel<T>(config: config, weights: try SafetensorsShards.openWeights(inDirectory: url.path),
                                   trainable: trainable, memory: memory)
    }

    /// The batch's images: the processor's patch rows and each image's grid.
    func images<T: KernelScalar>(_: T.Type) throws -> (pixels: [T], grids: [PatchGrid]) {
        let grid = try tensors.int64s("image_grid_thw").values
        let grids = (0..<grid.count / 3).map { PatchGrid(rows: Int(grid[3 * $0 + 1]), columns: Int(grid[3 * $0 + 2])) }
        return (try doubles("pixel_values").map { T($0) }, grids)
    }

    /// The twin's left-padded sequences `prefix`_ids as Discern rows: <|image_pad|> rows read
    /// the batch's image features in order; with soft prompts, the rows they replace (the last
    /// `textSuffix` real rows of a text prompt; the `imageSuffix` rows after <|vision_end|>).
    func sequences(_ prefix: String, softPrompts: Bool = false, targets: Bool = false) throws -> SequenceBatch {
        let (ids, shape) = try tensors.int64s(prefix + "_ids")
        let mask = try tensors.int64s(prefix + "_mask").values
        let targetValues = targets ? try tensors.int64s(prefix + "_targets").values : []
        var feature: Int32 = 0
        var items: [SequenceBatch.Item] = []
        for b in 0..<shape[0] {
            let rows = (b * shape[1]..<(b + 1) * shape[1]).filter { mask[$0] == 1 }
            var item = SequenceBatch.Item()
            var imagePromptRow: Int32? = nil
            for (t, r) in rows.enumerated() {
                let id = ids[r], target = targets ? targetValues[r] : -100
                if id == Int32(config.imageTokenID) {
                    item.append(.image, feature, target: target); feature += 1
                } else if softPrompts, let k = imagePromptRow, k < imageSuffixLength {
                    item.append(.imagePrompt, k, target: target); imagePromptRow = k + 1
                } else if softPrompts, prefix == "text", t >= rows.count - textSuffixLength {
                    item.append(.textPrompt, Int32(t - (rows.count - textSuffixLength)), target: target)
                } else {
                    item.append(.token, id, target: target)
                }
                if softPrompts, id == Int32(config.visionEndTokenID) { imagePromptRow = 0 }
            }
            items.append(item)
        }
        return SequenceBatch(items: items, padding: .left)
    }
}
