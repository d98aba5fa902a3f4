import Foundation
import HDF5Files

/// Reads the contents of an open checkpoint, checking every dataset's presence, element type and
/// shape before its values are allocated and read. Ranges and values are checked afterwards by
/// `CheckpointState.validate`.
struct CheckpointReader {
    let file: H5File
    let path: String
    /// Format 2 stores each tensor's CRC-32 as its `crc32` attribute.
    let tensorChecksums: Bool

    /// The most values a file of this size can hold: a bound for every allocation.
    private var maximumValues: Int {
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        return (bytes ?? 0) / MemoryLayout<Float>.size
    }

    func state() throws -> CheckpointState {
        let names = try parameterNames()
        let parameters = try tensors(names, under: "/parameters")
        let shapes = parameters.map(\.shape)
        return CheckpointState(
            parameters: parameters,
            firstMoments: try tensors(names, under: "/optimizer/first_moment", shapes: shapes),
            secondMoments: try tensors(names, under: "/optimizer/second_moment", shapes: shapes),
            step: try integer("step"), optimizerSteps: try integer("optimizer_steps"),
            epoch: try integer("epoch"), stepInEpoch: try integer("step_in_epoch"),
            seed: UInt64(bitPattern: try file.int64Attribute("seed")), worldSize: try integer("world_size"),
            globalBatch: try integer("global_batch"),
            configYAML: try config(),
            baseFingerprint: try file.stringAttribute("base_fingerprint"),
            baseDescription: try file.stringAttribute("base_description"))
    }

    private func fail(_ problem: String) -> CheckpointError {
        CheckpointError("\(path): \(problem); \(CheckpointFile.remedy)")
    }

    private func integer(_ name: String) throws -> Int { Int(try file.int64Attribute(name)) }

    /// `parameter_names`: one name per line, each non-empty, unique and a plain dataset name.
    private func parameterNames() throws -> [String] {
        let names = try file.stringAttribute("parameter_names").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        try CheckpointState.checkNames(names, source: path)
        return names
    }

    /// Each group holds exactly the listed tensors, float32, with the expected shapes.
    private func tensors(_ names: [String], under group: String, shapes: [[Int]]? = nil) throws -> [NamedTensor] {
        guard try file.objectKind(group) == .group else { throw fail("the group \(group) is missing") }
        let members = Set(try file.openGroup(group).memberNames())
        if let extra = members.subtracting(names).sorted().first {
            throw fail("\(group)/\(extra) is not in parameter_names")
        }
        var total = 0
        return try names.enumerated().map { index, name in
            let location = "\(group)/\(name)"
            guard members.contains(name) else { throw fail("\(location) is missing (parameter_names lists it)") }
            let dataset = try file.openDataset(location)
            guard try dataset.elementType == .float32 else {
                throw fail("\(location) is \(try dataset.elementType), not float32")
            }
            let shape = try dataset.shape
            if let shapes, shape != shapes[index] {
                throw fail("\(location) has shape \(shape) but /parameters/\(name) has \(shapes[index])")
            }
            total += try checkedCount(shape, location)
            guard total <= maximumValues else { throw fail("\(location): the shapes hold more values than the file can") }
            let array = try dataset.read(Float.self)
            let tensor = NamedTensor(name: name, shape: array.shape, values: array.values)
            if tensorChecksums { try checkChecksum(tensor, dataset, location) }
            return tensor
        }
    }

    private func checkChecksum(_ tensor: NamedTensor, _ dataset: H5Dataset, _ location: String) throws {
        guard try dataset.hasAttribute("crc32") else { throw fail("\(location) has no crc32 attribute (format 2 stores one per tensor)") }
        let stored = try dataset.int64Attribute("crc32")
        guard stored == Int64(tensor.checksum) else {
            throw fail("\(location): checksum mismatch: its values give crc32 \(String(format: "%08x", tensor.checksum)), "
                       + "the file records \(String(format: "%08llx", stored)); the tensor is damaged")
        }
    }

    /// Element count of a shape of positive dimensions, without overflow.
    private func checkedCount(_ shape: [Int], _ location: String) throws -> Int {
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else {
            throw fail("\(location) has shape \(shape); a tensor needs at least one dimension, all positive")
        }
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= maximumValues else { throw fail("\(location) has shape \(shape), more values than the file can hold") }
            count = product
        }
        return count
    }

    private func config() throws -> String {
        guard try file.objectKind("/config") == .dataset else { throw fail("the /config dataset is missing") }
        let values = try file.readStrings("/config").values
        guard values.count == 1 else { throw fail("/config holds \(values.count) strings, expected one") }
        return values[0]
    }
}
