/// A model split over several safetensors files, described by `model.safetensors.index.json`
/// (`{"metadata": {...}, "weight_map": {tensor: shard file}}`), presented as one lookup.
/// Each shard is opened (mapped) once. The index and the shards must agree exactly: a listed shard
/// that is missing, a tensor absent from its listed shard, a tensor in two shards or a tensor the
/// index does not list are all errors, because any of them means some weights would silently be
/// taken from the wrong place or not at all.
package final class SafetensorsShards: TensorSource, @unchecked Sendable {  // immutable after init
    package let indexPath: String
    package let names: [String]
    /// Shard file name (as written in the index) -> opened file.
    package let shards: [String: SafetensorsFile]
    private let shardOfTensor: [String: SafetensorsFile]

    package init(indexPath: String) throws(FormatError) {
        self.indexPath = indexPath
        let bytes = try readFileBytes(indexPath)
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw FormatError(file: indexPath, "is not valid JSON (\(error))")
        }
        let weightMap = try JSONNode(value: document, path: "", file: indexPath).object().required("weight_map").object()
        let directory = parentDirectory(of: indexPath)

        var listed: [String: String] = [:]  // tensor -> shard file name
        for (tensor, node) in weightMap.nodes {
            let shard = try node.string()
            guard !shard.isEmpty, !shard.contains("/"), shard != ".", shard != ".." else {
                throw node.failure("shard '\(shard)' must be a plain file name in the index's directory")
            }
            listed[tensor] = shard
        }
        var opened: [String: SafetensorsFile] = [:]
        for shard in Set(listed.values).sorted() {
            let path = "\(directory)/\(shard)"
            guard fileExists(path) else {
                throw FormatError(file: indexPath, entry: shard, "shard listed in weight_map is missing (expected at \(path))")
            }
            opened[shard] = try SafetensorsFile(path: path)
        }

        var found: [String: SafetensorsFile] = [:]
        for shard in opened.keys.sorted() {
            let file = opened[shard]!
            for tensor in file.names {
                if let other = found[tensor] {
                    throw FormatError(file: indexPath, entry: tensor, "tensor is stored in two shards, \(baseName(of: other.path)) and \(shard)")
                }
                guard listed[tensor] != nil else {
                    throw FormatError(file: file.path, entry: tensor, "tensor is not listed in the index's weight_map")
                }
                found[tensor] = file
            }
        }
        for (tensor, shard) in listed where found[tensor] !== opened[shard] {
            throw FormatError(file: indexPath, entry: tensor, "weight_map says shard \(shard) but that shard does not contain this tensor")
        }
        shards = opened
        shardOfTensor = found
        names = found.keys.sorted()
    }

    /// The weights of a Hugging Face model directory: the sharded index when present, otherwise
    /// `model.safetensors`.
    package static func openWeights(inDirectory directory: String) throws(FormatError) -> any TensorSource {
        let index = "\(directory)/model.safetensors.index.json"
        if fileExists(index) { return try SafetensorsShards(indexPath: index) }
        let single = "\(directory)/model.safetensors"
        guard fileExists(single) else {
            throw FormatError(file: directory, "holds neither model.safetensors nor model.safetensors.index.json")
        }
        return try SafetensorsFile(path: single)
    }

    package func info(_ name: String) throws(FormatError) -> SafetensorsTensorInfo {
        guard let file = shardOfTensor[name] else { throw FormatError(file: indexPath, entry: name, "no such tensor in any shard") }
        return try file.info(name)
    }

    package func rawBytes(_ name: String) throws(FormatError) -> UnsafeRawBufferPointer {
        guard let file = shardOfTensor[name] else { throw FormatError(file: indexPath, entry: name, "no such tensor in any shard") }
        return try file.rawBytes(name)
    }

    package func file(containing name: String) -> String { shardOfTensor[name]?.path ?? indexPath }
}
