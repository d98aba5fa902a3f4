import CAllocationCounter
import Kernels
import TestSupport
import XCTest

/// bf16Gemm against float64 products of the same bf16 inputs, and against the fp32 `gemm`.
final class BFloat16GemmTests: XCTestCase {
    /// fp32's unit roundoff.
    static let u32 = 0x1p-24
    /// bf16's unit roundoff: 8 significant bits, so rounding to nearest moves a value by at most
    /// 2^-8 of itself.
    static let u16 = 0x1p-8

    override func setUpWithError() throws {
        try XCTSkipUnless(BFloat16Hardware.native, "bf16Gemm is only used on CPUs with native bf16 (this one: \(BFloat16Hardware.description))")
    }

    /// A bf16 operand: random values rounded to bf16 (bits for bf16Gemm, their exact values for the reference).
    struct Operand {
        let bits: [UInt16], values: [Double]
        init(_ random: inout TestRandom, _ count: Int) {
            let floats: [Float] = random.uniform(count)
            bits = floats.map(bfloat16Bits)
            values = bits.map { Double(Float(bitPattern: UInt32($0) << 16)) }
        }
    }

    /// Float64 alpha op(a) op(b) + beta c and, per element, the scale of its rounding error bound:
    /// |alpha| sum_p |a_ip b_pj| + |beta c_ij|. The operands are views starting at `offsets`;
    /// elements of c outside the view keep their value with scale 0 (they must stay exactly).
    func reference(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: [Double], lda: Int, _ b: [Double], ldb: Int,
                   _ c: [Float], ldc: Int, alpha: Double, beta: Double, offsets: (a: Int, b: Int, c: Int) = (0, 0, 0))
        -> (values: [Double], scales: [Double]) {
        var values = c.map(Double.init), scales = [Double](repeating: 0, count: c.count)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let product = (transA ? a[offsets.a + p * lda + i] : a[offsets.a + i * lda + p])
                        * (transB ? b[offsets.b + j * ldb + p] : b[offsets.b + p * ldb + j])
                    sum += product
                    magnitude += abs(product)
                }
                let index = offsets.c + i * ldc + j, old = Double(c[index])
                values[index] = alpha * sum + (beta == 0 ? 0 : beta * old)
                scales[index] = abs(alpha) * magnitude + abs(beta * old)
            }
        }
        return (values, scales)
    }

    /// Products of two bf16 values are exact in fp32 (8 + 8 significant bits fit in 24), so the
    /// only error is fp32 rounding: k - 1 additions in whatever order the kernel sums, then alpha,
    /// beta * c and their sum, each at most one unit roundoff of the running magnitude. The
    /// classic bound is |computed - exact| <= (k + 2) u32 (|alpha| sum|a||b| + |beta c|) to
    /// first order; (k + 3) leaves one rounding of room. A wrong element (a missed or doubled
    /// term, a transposed operand) is off by far more.
    func assertWithinAccumulationBound(_ actual: [Float], _ expected: (values: [Double], scales: [Double]), k: Int, _ what: String,
                                       file: StaticString = #filePath, line: UInt = #line) {
        let factor = Double(k + 3) * Self.u32
        for i in actual.indices {
            let error = abs(Double(actual[i]) - expected.values[i]), bound = factor * expected.scales[i]
            if !(error <= bound) {
                XCTFail("\(what): element \(i) is \(actual[i]), expected \(expected.values[i]) (error \(error) > bound \(bound))", file: file, line: line)
                return
            }
        }
    }

    func run(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, alpha: Float, _ a: [UInt16], lda: Int?, _ b: [UInt16], ldb: Int?,
             beta: Float, _ c: inout [Float], ldc: Int?, offsets: (a: Int, b: Int, c: Int) = (0, 0, 0)) {
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            bf16Gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, pa.baseAddress! + offsets.a, lda: lda,
                     pb.baseAddress! + offsets.b, ldb: ldb, beta: beta, pc.baseAddress! + offsets.c, ldc: ldc)
        } } }
    }

    /// Every transpose case, odd and unit sizes, alpha and beta (beta 1 is gradient accumulation),
    /// on 1 and 2 threads; the two largest (over 2^25 FLOP) are split by columns (200 wide) or by rows (100
    /// wide, 300 tall) when 2 threads are used.
    func testAllTransposeCasesSizesAlphaBetaAndThreads() {
        var random = TestRandom(seed: 11)
        let shapes = [(1, 1, 1), (3, 5, 7), (17, 1, 9), (1, 13, 4), (31, 29, 37), (64, 3, 65), (2, 70, 1), (96, 200, 900), (300, 100, 600)]
        let saved = KernelThreads.count
        defer { KernelThreads.count = saved }
        for (m, n, k) in shapes {
            // The float64 reference of the two large shapes is the slow part: two alpha/beta pairs suffice there.
            let scalings = m * n * k > 1_000_000 ? [(1.0, 0.0), (0.5, 1.0)] : [(1.0, 0.0), (1.0, 1.0), (0.5, 1.0), (-2.0, 0.25)]
            for transA in [false, true] {
                for transB in [false, true] {
                    for (alpha, beta) in scalings {
                        let a = Operand(&random, m * k), b = Operand(&random, k * n)
                        let c0: [Float] = random.uniform(m * n)
                        let expected = reference(transA, transB, m, n, k, a.values, lda: transA ? m : k, b.values, ldb: transB ? k : n,
                                                 c0, ldc: n, alpha: alpha, beta: beta)
                        for threads in [1, 2] {
                            KernelThreads.count = threads
                            var c = c0
                            run(transA, transB, m, n, k, alpha: Float(alpha), a.bits, lda: nil, b.bits, ldb: nil, beta: Float(beta), &c, ldc: nil)
                            assertWithinAccumulationBound(c, expected, k: k,
                                                          "m=\(m) n=\(n) k=\(k) tA=\(transA) tB=\(transB) alpha=\(alpha) beta=\(beta) threads=\(threads)")
                        }
                    }
                }
            }
        }
    }

    /// Strided views: a (5 x 3) block inside rows of 8 (or its transpose), times a (3 x 4) block
    /// inside rows of 6 (or its transpose inside rows of 7), accumulated into columns 2...5 of
    /// rows of 9. Everything outside the view stays exactly as it was.
    func testLeadingDimensionsAddressStridedViews() {
        var random = TestRandom(seed: 12)
        let (m, n, k) = (5, 4, 3), lda = 8, ldc = 9, offsets = (a: 1, b: 2, c: 2)
        for transA in [false, true] {
            for transB in [false, true] {
                let ldb = transB ? 7 : 6
                let a = Operand(&random, (transA ? k : m) * lda), b = Operand(&random, (transB ? n : k) * ldb)
                let c0 = [Float](repeating: 7, count: m * ldc)
                var c = c0
                run(transA, transB, m, n, k, alpha: 1, a.bits, lda: lda, b.bits, ldb: ldb, beta: 1, &c, ldc: ldc, offsets: offsets)
                let expected = reference(transA, transB, m, n, k, a.values, lda: lda, b.values, ldb: ldb, c0, ldc: ldc,
                                         alpha: 1, beta: 1, offsets: offsets)
                assertWithinAccumulationBound(c, expected, k: k, "strided tA=\(transA) tB=\(transB)")
            }
        }
    }

    /// m or n of 0 touches nothing; k of 0 is an empty sum: c = beta c, beta 0 overwriting even NaN.
    func testEmptyDimensions() {
        var c: [Float] = [1, 2, .nan, 4]
        run(false, false, 0, 2, 3, alpha: 1, [0], lda: 3, [0], ldb: 2, beta: 0, &c, ldc: 2)
        run(false, false, 2, 0, 3, alpha: 1, [0], lda: 3, [0], ldb: 1, beta: 0, &c, ldc: 1)
        XCTAssertEqual(c[0], 1); XCTAssertEqual(c[1], 2); XCTAssert(c[2].isNaN); XCTAssertEqual(c[3], 4)
        run(false, false, 2, 2, 0, alpha: 1, [0], lda: 1, [0], ldb: 2, beta: 0.5, &c, ldc: 2)
        XCTAssertEqual(c[0], 0.5); XCTAssertEqual(c[1], 1); XCTAssert(c[2].isNaN); XCTAssertEqual(c[3], 2)
        run(false, false, 2, 2, 0, alpha: 1, [0], lda: 1, [0], ldb: 2, beta: 0, &c, ldc: 2)
        XCTAssertEqual(c, [0, 0, 0, 0])
    }

    /// The fp32 `gemm` on fp32 inputs and bf16Gemm on the same inputs rounded to bf16 differ by
    /// the rounding: each input moves by at most u16 of itself, so each product by at most
    /// (2 u16 + u16^2) |a||b|, plus both products' fp32 accumulation bound. A bf16 path that
    /// dropped or mangled the low bits of the result (or rounded it to bf16) would exceed this
    /// only at the 2^-8 scale, which is why the bound is checked per element, not in aggregate.
    func testAgreesWithFloat32GemmWithinBFloat16Rounding() {
        var random = TestRandom(seed: 13)
        for (m, n, k) in [(40, 512, 512), (720, 64, 96), (7, 11, 1376)] {
            for transB in [false, true] {
                let a32: [Float] = random.uniform(m * k), b32: [Float] = random.uniform(k * n)
                var c32 = [Float](repeating: 0, count: m * n), c16 = c32
                a32.withUnsafeBufferPointer { pa in b32.withUnsafeBufferPointer { pb in c32.withUnsafeMutableBufferPointer { pc in
                    gemm(transB: transB, m: m, n: n, k: k, pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
                } } }
                run(false, transB, m, n, k, alpha: 1, a32.map(bfloat16Bits), lda: nil, b32.map(bfloat16Bits), ldb: nil, beta: 0, &c16, ldc: nil)
                let factor = 2 * Self.u16 + Self.u16 * Self.u16 + 2 * Double(k + 3) * Self.u32
                for i in 0..<m {
                    for j in 0..<n {
                        var magnitude = 0.0
                        for p in 0..<k { magnitude += abs(Double(a32[i * k + p]) * Double(transB ? b32[j * k + p] : b32[p * n + j])) }
                        let error = abs(Double(c16[i * n + j]) - Double(c32[i * n + j]))
                        if !(error <= factor * magnitude) {
                            XCTFail("m=\(m) n=\(n) k=\(k) tB=\(transB): (\(i), \(j)) bf16 \(c16[i * n + j]) vs fp32 \(c32[i * n + j])")
                            return
                        }
                    }
                }
            }
        }
    }

    /// After the first call of a shape (which makes its primitive), a repeated call allocates
    /// nothing of Discern's: only oneDNN's own per-execution blocks, a fixed count (its
    /// dnnl_primitive_execute builds a std::unordered_map of the arguments per call; the sum
    /// post-op of beta != 0 adds one). The same loop over an empty product (m = 0) is the
    /// baseline, so the test harness's own allocations are not counted. The first call of a new
    /// shape must allocate far more, or the counter is not counting.
    func testRepeatedCallsMakeNoPrimitiveOrBuffer() throws {
        try XCTSkipUnless(discern_allocation_counting_active() != 0, "allocation counting needs glibc")
        let saved = blasThreads
        setBLASThreads(1)
        defer { setBLASThreads(saved) }
        var random = TestRandom(seed: 14)
        let repeats = 20
        for (transB, m, n, k, beta) in [(true, 72, 136, 48, Float(0)), (false, 40, 200, 72, Float(1))] {
            let a = Operand(&random, m * k).bits, b = Operand(&random, k * n).bits
            var c = [Float](repeating: 0, count: m * n)
            func allocations(rows: Int, _ count: Int) -> UInt64 {
                let before = discern_allocation_count()
                for _ in 0..<count { run(false, transB, rows, n, k, alpha: 1, a, lda: k, b, ldb: nil, beta: beta, &c, ldc: nil) }
                return discern_allocation_count() - before
            }
            let first = allocations(rows: m, 1)
            let baseline = allocations(rows: 0, repeats), repeated = allocations(rows: m, repeats)
            let perCall = (Double(repeated) - Double(baseline)) / Double(repeats)
            XCTAssertLessThanOrEqual(perCall, Double(bf16GemmLibraryAllocationsPerExecution),
                                     "m=\(m) n=\(n) k=\(k) beta=\(beta): \(perCall) allocations per repeated call")
            XCTAssertGreaterThan(Double(first), 4 * Double(bf16GemmLibraryAllocationsPerExecution),
                                 "the first call of a shape makes its primitive: \(first) allocations counted")
        }
    }
}

final class BFloat16HardwareTests: XCTestCase {
    /// CPUID agrees with the kernel's view where /proc/cpuinfo exists (it lists a flag only when
    /// the CPU has it and the kernel supports its state), and the description says what is missing.
    func testCPUIDAgreesWithProcCPUInfoAndDescriptionIsConsistent() throws {
        XCTAssertEqual(BFloat16Hardware.native, BFloat16Hardware.avx512BF16 || BFloat16Hardware.amxBF16)
        if BFloat16Hardware.native {
            XCTAssertFalse(BFloat16Hardware.description.hasPrefix("none"), BFloat16Hardware.description)
        } else {
            XCTAssert(BFloat16Hardware.description.hasPrefix("none: "), BFloat16Hardware.description)
            XCTAssert(BFloat16Hardware.description.contains("AVX512_BF16"), BFloat16Hardware.description)
        }
        let cpuinfo = try XCTUnwrap(try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8), "no /proc/cpuinfo to compare with")
        guard let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            throw XCTSkip("/proc/cpuinfo lists no flags on this system")
        }
        let flags = Set(line.split(separator: " ").map(String.init))
        XCTAssertEqual(BFloat16Hardware.avx512BF16, flags.contains("avx512_bf16"), "CPUID vs /proc/cpuinfo for AVX512_BF16")
        XCTAssertEqual(BFloat16Hardware.amxBF16, flags.contains("amx_bf16") && flags.contains("amx_tile"), "CPUID vs /proc/cpuinfo for AMX-BF16")
    }
}
