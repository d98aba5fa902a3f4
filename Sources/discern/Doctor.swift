import ArgumentParser
import Foundation
import Platform

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report MPI, BLAS, HDF5 and CPU facts, measure sgemm (and bf16 GEMM) speed, and flag slow set-ups.")

    @Flag(help: "Print only the OPENBLAS_CORETYPE value that fixes a generic-kernel fallback (nothing when none is needed). Used by the launch scripts.")
    var printBlasFix = false

    @Flag(help: "Print only this CPU's bf16 support and exit 0 when it has native bf16 dot products (AVX512_BF16 or AMX-BF16), 1 when not. Used by launch/bench.")
    var bf16Only = false

    @Option(help: "Square matrix size for the sgemm and bf16 GEMM measurements.")
    var gemmSize = 1024

    func validate() throws {
        // Three fp32 and two bf16 matrices of n x n: 8192 needs about 1 GB.
        guard (16...8192).contains(gemmSize) else {
            throw ValidationError("--gemm-size must be between 16 and 8192 (got \(gemmSize))")
        }
    }

    func run() throws {
        let blas = BLASInfo(), cpu = CPUInfo()
        if printBlasFix {
            if blasTrapWarning(blas: blas, cpu: cpu) != nil { print(cpu.recommendedCoreType) }
            return
        }
        if bf16Only {
            print(BFloat16Info.hardware)
            if !BFloat16Info.native { throw ExitCode(1) }
            return
        }
        let environment = ProcessInfo.processInfo.environment
        func env(_ name: String) -> String { environment[name].map { "\(name)=\($0)" } ?? "\(name) unset" }
        print("Discern doctor")
        print("  CPU       \(cpu.modelName) (\(cpu.vendor)), \(cpu.logicalCores) logical cores")
        print("  SIMD      \(cpu.simdSummary)")
        print("  OpenBLAS  core \(blas.coreName), \(blas.threads) thread(s); \(env("OPENBLAS_NUM_THREADS")), \(env("OPENBLAS_CORETYPE"))")
        print("            \(blas.config)")
        print("  MPI       \(mpiLibraryVersion())")
        print("  HDF5      \(HDF5Info.libraryVersion)")
        let probe = GemmProbe.measure(size: gemmSize)
        print(String(format: "  sgemm     %.1f GFLOP/s (n=%d, %d BLAS thread(s), best of repeated runs)",
                     probe.gflops, probe.size, blas.threads))
        print("  bf16      \(BFloat16Info.hardware); GEMM library \(BFloat16Info.library)")
        if BFloat16Info.native {
            let bf16 = GemmProbe.measureBFloat16(size: gemmSize, threads: blas.threads)
            print(String(format: "  bf16 GEMM %.1f GFLOP/s (n=%d, %d thread(s), bf16 operands, fp32 result): %.2fx sgemm",
                         bf16.gflops, bf16.size, blas.threads, bf16.gflops / probe.gflops))
        } else {
            print("  bf16 GEMM not timed: without native bf16 dot products fp32 is the faster precision here")
        }
        if let warning = blasTrapWarning(blas: blas, cpu: cpu) {
            print("")
            print(warning)
        } else if blas.isGeneric {
            print("  note      generic BLAS kernels, but this CPU has no AVX2/AVX-512 to use instead")
        } else {
            print("  BLAS kernels match this CPU.")
        }
    }
}
