import CBLAS
import Foundation

/// What OpenBLAS is doing on this machine, and whether it fell into the generic-kernel trap.
public struct BLASInfo: Sendable {
    public let coreName: String
    public let threads: Int
    public let config: String

    public init() {
        coreName = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
        threads = Int(openblas_get_num_threads())
        config = openblas_get_config().map { String(cString: $0) } ?? "unknown"
    }

    /// A described library, for tests of the warning logic.
    public init(coreName: String, threads: Int = 1, config: String = "") {
        self.coreName = coreName
        self.threads = threads
        self.config = config
    }

    /// OpenBLAS core types that mean "CPU not recognised, SSE-era kernels": on a CPU with
    /// AVX2 or AVX-512 they run 3-5x below the real GEMM ceiling.
    public static let genericCores: Set<String> = [
        "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai", "coppermine",
        "northwood", "banias", "opteron", "opteron_sse3", "barcelona", "generic", "unknown",
    ]

    public var isGeneric: Bool { BLASInfo.genericCores.contains(coreName.lowercased()) }
}

/// The CPU as /proc/cpuinfo describes it.
public struct CPUInfo: Sendable {
    public let modelName: String
    public let vendor: String
    public let logicalCores: Int
    public let flags: Set<String>

    public init(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) {
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

    public var hasAVX2: Bool { flags.contains("avx2") }
    public var hasAVX512: Bool { flags.contains("avx512f") }

    /// The SIMD features that matter for fp32 GEMM, widest first.
    public var simdSummary: String {
        let interesting = ["avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_fp16", "amx_tile",
                           "avx2", "fma", "f16c", "avx", "sse4_2"]
        let present = interesting.filter(flags.contains)
        return present.isEmpty ? "(no SIMD flags reported)" : present.joined(separator: " ")
    }

    /// The OpenBLAS core type that unlocks full-width kernels on this CPU.
    public var recommendedCoreType: String {
        if hasAVX512 { return "SkylakeX" }
        if vendor == "AuthenticAMD" { return "Zen" }
        return "Haswell"
    }
}

/// The warning for the OpenBLAS generic-kernel trap, or nil when BLAS runs the right kernels.
public func blasTrapWarning(blas: BLASInfo = BLASInfo(), cpu: CPUInfo = CPUInfo()) -> String? {
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
