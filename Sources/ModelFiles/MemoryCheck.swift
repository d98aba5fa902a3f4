import Foundation
import Models

/// Memory this machine (or this process's cgroup) can still give, and where the number comes from.
package struct AvailableMemory: Sendable {
    package let bytes: Double
    package let source: String

    package init(bytes: Double, source: String) {
        self.bytes = bytes
        self.source = source
    }

    /// The smaller of /proc/meminfo's MemAvailable and the cgroup's limit less its usage; nil
    /// where neither can be read (then nothing is refused).
    package static func current() -> AvailableMemory? {
        var best: AvailableMemory?
        func consider(_ bytes: Double?, _ source: String) {
            guard let bytes, bytes.isFinite, bytes >= 0 else { return }
            if best == nil || bytes < best!.bytes { best = AvailableMemory(bytes: bytes, source: source) }
        }
        if let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) {
            consider(kilobytes * 1024, "MemAvailable in /proc/meminfo")
        }
        for (limitFile, usageFile) in [("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                       ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")] {
            guard let limit = number(in: limitFile) else { continue }  // "max" (no limit) is not a number
            consider(limit - (number(in: usageFile) ?? 0), "the cgroup limit in \(limitFile)")
        }
        return best
    }

    private static func number(in file: String) -> Double? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        return Double(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

extension VisionLanguageConfig {
    /// A lower bound of the bytes the model's parameters and rotary tables take with
    /// `bytesPerValue`-byte values, computed in Double so that absurd sizes cannot overflow.
    package func minimumModelBytes(bytesPerValue: Int) -> (parameters: Double, bytes: Double) {
        let parameters = modelDescription.tensors.reduce(0.0) { total, tensor in total + tensor.shape.reduce(1.0) { $0 * Double($1) } }
        let rotary = Double(decoder.maxPositionEmbeddings) * Double(decoder.headDim)  // cos and sin tables, headDim / 2 each
        return (parameters, (parameters + rotary) * Double(bytesPerValue))
    }

    /// Refuses, before any allocation, a model whose parameters alone exceed the memory available.
    package func checkMemoryFits(bytesPerValue: Int, source: String, available: AvailableMemory? = .current()) throws {
        guard let available else { return }
        let (parameters, bytes) = minimumModelBytes(bytesPerValue: bytesPerValue)
        guard bytes > available.bytes else { return }
        func gigabytes(_ value: Double) -> String { String(format: "%.1f GB", value / 1e9) }
        throw ModelConfigError("\(source): the model needs at least \(gigabytes(bytes)) for its \(String(format: "%.3g", parameters)) parameters "
                               + "(\(bytesPerValue) bytes each), but only \(gigabytes(available.bytes)) is available (\(available.source)). "
                               + "Check the sizes in config.json, use memory.half_weights for 16-bit weights, or a machine with more memory.")
    }
}
