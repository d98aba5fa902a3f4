import CBLAS
import Foundation

/// What OpenBLAS is doing on this machine, and whether it fell into the generic-kernel trap.
package struct BLASInfo: Sendable {
    package let coreName: String
    package let threads: Int
    package let config: String

    package init() {
        coreName = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
        threads = Int(openblas_get_num_threads())
        config = openblas_get_config().map { String(cString: $0) } ?? "unknown"
    }

    /// A described library, for tests of the warning logic.
    package init(coreName: String, threads: Int = 1, config: String = "") {
        self.coreName = coreName
        self.threads = threads
        self.config = config
    }

    /// OpenBLAS core types that mean "CPU not recognised, SSE-era kernels": on a CPU with
    /// AVX2 or AVX-512 they run 3-5x below the real GEMM ceiling.
    package static let genericCores: Set<String> = [
        "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai", "coppermine",
        "northwood", "banias", "opteron", "opteron_sse3", "barcelona", "generic", "unknown",
    ]

    package var isGeneric: Bool { BLASInfo.genericCores.contains(coreName.lowercased()) }
}

/// The CPU as /proc/cpuinfo describes it.
package struct CPUInfo: Sendable {
    package let modelName: String
    package let vendor: String
    package let logicalCores: Int
    package let flags: Set<String>

    package init(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) {
        var model = "unknown", vendor = "unknown", flags = Set<String>()
        for line in (cpuinfo ?? "").split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "model name" where model == "unknown": model = parts[1]
            case "vendor_id" where vendor == "unknown": vendor = parts[1]
            case "flags" where flags.isEmpty: flags = Set(parts[1].split(separator: " ").map(String.init))
            default: break
            }
        }
        modelName = model
        self.vendor = vendor
        self.flags = flags
        logicalCores = ProcessInfo.processInfo.activeProcessorCount
    }

    package var hasAVX2: Bool { flags.contains("avx2") }
    package var hasAVX512: Bool { flags.contains("avx512f") }

    /// The SIMD features that matter for fp32 GEMM, widest first.
    package var simdSummary: String {
        let interesting = ["avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_fp16", "amx_tile",
                           "avx2", "fma", "f16c", "avx", "sse4_2"]
        let present = interesting.filter(flags.contains)
        return present.isEmpty ? "(no SIMD flags reported)" : present.joined(separator: " ")
    }

    /// The OpenBLAS core type that unlocks full-width kernels on this CPU.
    package var recommendedCoreType: String {
        if hasAVX512 { return "SkylakeX" }
        if vendor == "AuthenticAMD" { return "Zen" }
        return "Haswell"
    }
}

/// The warning for the OpenBLAS generic-kernel trap, or nil when BLAS runs the right kernels.
package func blasTrapWarning(blas: BLASInfo = BLASInfo(), cpu: CPUInfo = CPUInfo()) -> String? {
    guard blas.isGeneric, cpu.hasAVX2 || cpu.hasAVX512 else { return nil }
    let width = cpu.hasAVX512 ? "AVX-512" : "AVX2"
    return """
    !!! WARNING: OpenBLAS is running generic '\(blas.coreName)' kernels on a CPU with \(width).
    !!! Matrix products will run about 3-5x slower than this CPU allows.
    !!! Fix: set the core type in the environment BEFORE starting discern (setting it inside is too late):
    !!!     export OPENBLAS_CORETYPE=\(cpu.recommendedCoreType)
    !!! Under mpirun pass it to every rank:  mpirun -x OPENBLAS_CORETYPE=\(cpu.recommendedCoreType) ...
    !!! (./launch/train and ./launch/test set it for you.)
    """
}
