import Foundation
import HDF5Files

extension NamedTensor {
    /// CRC-32 of the values' bytes (little-endian float32), stored per tensor since format 2.
    package var checksum: UInt32 { values.withUnsafeBytes { FileSeal.checksum($0) } }
}

/// What every checkpoint must satisfy, checked after reading and before writing, so a damaged or
/// diverged state is never resumed from, exported or saved.
extension CheckpointState {
    /// Names, moment shapes, attribute ranges and values; messages start with `source`.
    package func validate(source: String) throws {
        func fail(_ problem: String) -> CheckpointError { CheckpointError("\(source): \(problem)") }
        try Self.checkNames(parameters.map(\.name), source: source)
        let ranges: [(String, Int, Int)] = [("step", step, 0), ("optimizer_steps", optimizerSteps, 0), ("epoch", epoch, 0),
                                            ("step_in_epoch", stepInEpoch, 0), ("world_size", worldSize, 1),
                                            ("global_batch", globalBatch, 1)]
        for (name, value, minimum) in ranges where value < minimum {
            throw fail("the attribute \(name) is \(value); it must be at least \(minimum). The file is damaged; "
                       + CheckpointFile.remedy)
        }
        for (group, moments) in [("first_moment", firstMoments), ("second_moment", secondMoments)] {
            guard moments.map(\.name) == parameters.map(\.name), moments.map(\.shape) == parameters.map(\.shape) else {
                throw fail("the optimizer's \(group) tensors do not match the parameters in names and shapes")
            }
        }
        if let bad = firstNonFinite() {
            throw fail("\(bad.group)/\(bad.tensor) holds a non-finite value (at index \(bad.index)); \(CheckpointFile.remedy)")
        }
        if let bad = firstNegativeSecondMoment() {
            throw fail("optimizer/second_moment/\(bad.tensor) holds a negative value at index \(bad.index) (a second moment "
                       + "is a mean of squares); \(CheckpointFile.remedy)")
        }
    }

    /// The first NaN or infinity in the parameters or moments: group ("parameters",
    /// "optimizer/first_moment", ...), tensor name and flat index.
    package func firstNonFinite() -> (group: String, tensor: String, index: Int)? {
        for (group, list) in [("parameters", parameters), ("optimizer/first_moment", firstMoments),
                              ("optimizer/second_moment", secondMoments)] {
            for tensor in list {
                if let index = tensor.values.firstIndex(where: { !$0.isFinite }) { return (group, tensor.name, index) }
            }
        }
        return nil
    }

    func firstNegativeSecondMoment() -> (tensor: String, index: Int)? {
        for tensor in secondMoments {
            if let index = tensor.values.firstIndex(where: { $0 < 0 }) { return (tensor.name, index) }
        }
        return nil
    }

    /// At least one name, each non-empty, without '/' (it names an HDF5 dataset) and unique.
    static func checkNames(_ names: [String], source: String) throws {
        func fail(_ problem: String) -> CheckpointError { CheckpointError("\(source): \(problem); \(CheckpointFile.remedy)") }
        guard !names.isEmpty, names != [""] else { throw fail("parameter_names is empty: the checkpoint holds no tensors") }
        var seen = Set<String>()
        for (line, name) in names.enumerated() {
            guard !name.isEmpty, !name.contains("/") else {
                throw fail("parameter_names line \(line + 1) is '\(name)'; a tensor name is non-empty and has no '/'")
            }
            guard seen.insert(name).inserted else { throw fail("parameter_names lists '\(name)' twice") }
        }
    }
}
