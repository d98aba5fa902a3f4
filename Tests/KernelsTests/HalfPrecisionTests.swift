import Kernels
import TestSupport
import XCTest

final class HalfPrecisionTests: XCTestCase {
    /// Every one of the 65,536 fp16 bit patterns widens to what Swift's own Float16 gives, and
    /// narrows back to itself (NaN payloads aside).
    func testFloat16AllBitPatternsRoundTrip() {
        for bits in 0...UInt16.max {
            let reference = Float(Float16(bitPattern: bits))
            let widened = float16Value(bits)
            if reference.isNaN {
                XCTAssertTrue(widened.isNaN, "fp16 \(bits)")
                XCTAssertTrue(float16Value(float16Bits(widened)).isNaN)
                continue
            }
            XCTAssertEqual(widened.bitPattern, reference.bitPattern, "fp16 bits \(bits)")
            XCTAssertEqual(float16Bits(widened), bits, "fp16 bits \(bits) did not round-trip")
        }
    }

    /// Narrowing random fp32 values (normal, subnormal-range, overflowing) matches Swift's
    /// Float16 conversion, which rounds to nearest even.
    func testFloat16NarrowingMatchesSwift() {
        var random = Xoshiro256(seed: 5)
        for _ in 0..<200_000 {
            let exponent = Float(Int(random.next() % 60) - 35)
            let value = Float(random.uniform(-1.0, 1.0)) * Float.pow(2, exponent)
            XCTAssertEqual(float16Bits(value), Float16(value).bitPattern, "fp16 narrowing of \(value)")
        }
        XCTAssertEqual(float16Bits(70000), Float16(Float.infinity).bitPattern)
    }

    func testBFloat16RoundsToNearestEven() {
        XCTAssertEqual(bfloat16Bits(1.0), 0x3F80)
        // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties go to even (1.0).
        XCTAssertEqual(bfloat16Bits(1.0 + 0x1.0p-8), 0x3F80)
        // 1 + 3 * 2^-8 is halfway between 1.0078125 (odd) and 1.015625 (even): rounds up.
        XCTAssertEqual(bfloat16Bits(1.0 + 3 * 0x1.0p-8), 0x3F82)
        XCTAssertTrue(Float(bitPattern: UInt32(bfloat16Bits(.nan)) << 16).isNaN)
        XCTAssertEqual(bfloat16Bits(-.infinity), 0xFF80)
        var values: [Float] = [0, -0.0, 3.140625, -2.5e-20, 1e30]
        var narrow = [UInt16](repeating: 0, count: values.count)
        var wide = [Float](repeating: 0, count: values.count)
        narrowToBFloat16(&values, &narrow, count: values.count)
        widenBFloat16(&narrow, &wide, count: values.count)
        for i in 0..<values.count { XCTAssertEqual(Double(wide[i]), Double(values[i]), accuracy: abs(Double(values[i])) / 128) }
    }

    /// The parallel narrowing gives bit for bit what the single loop gives, on values of every
    /// kind (ties, subnormals, infinities, NaN, overflow to infinity) over several chunks.
    func testParallelBFloat16NarrowingMatchesTheLoop() {
        let count = 3 * (1 << 16) + 5
        var random = Xoshiro256(seed: 10)
        var values = (0..<count).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: random.next())) }
        values[0] = 1.0 + 0x1.0p-8; values[1] = .nan; values[2] = -.infinity; values[3] = Float.greatestFiniteMagnitude
        var expected = [UInt16](repeating: 0, count: count), actual = expected
        narrowToBFloat16(&values, &expected, count: count)
        withKernelThreads(testThreadCount) { narrowToBFloat16InParallel(&values, &actual, count: count) }
        XCTAssertEqual(actual, expected)
        XCTAssertEqual(actual[0], 0x3F80)
        XCTAssertEqual(actual[3], 0x7F80, "the largest float rounds up to bf16 infinity")
    }

    /// The vectorisable widening loop gives exactly `float16Value` for all 65,536 patterns
    /// (NaN payloads included: bit patterns are compared).
    func testBranchlessFloat16WideningMatchesReferenceBitForBit() {
        var halves = (0...UInt16.max).map { $0 }
        var wide = [Float](repeating: 0, count: halves.count)
        widenFloat16(&halves, &wide, count: halves.count)
        for (bits, value) in zip(halves, wide) {
            XCTAssertEqual(value.bitPattern, float16Value(bits).bitPattern, "fp16 bits \(bits)")
        }
    }

    /// widenHalf reads unaligned 16-bit data (a mapped tensor after an odd-length header), in
    /// parallel, to Float and to Double, with the same values as the aligned loops.
    func testWidenHalfAnyAlignmentAndPrecision() {
        let count = 150_001   // more than one parallel chunk, odd
        var random = Xoshiro256(seed: 9)
        let halves = (0..<count).map { _ in UInt16(truncatingIfNeeded: random.next()) }
        let savedThreads = KernelThreads.count
        KernelThreads.count = 2
        defer { KernelThreads.count = savedThreads }
        for format in HalfFormat.allCases {
            var expected = [Float](repeating: 0, count: count)
            halves.withUnsafeBufferPointer { source in
                switch format {
                case .float16: widenFloat16(source.baseAddress!, &expected, count: count)
                case .bfloat16: widenBFloat16(source.baseAddress!, &expected, count: count)
                }
            }
            let raw = UnsafeMutableRawPointer.allocate(byteCount: 2 * count + 1, alignment: 8)
            defer { raw.deallocate() }
            for offset in [0, 1] {
                halves.withUnsafeBytes { (raw + offset).copyMemory(from: $0.baseAddress!, byteCount: 2 * count) }
                var floats = [Float](repeating: 0, count: count), doubles = [Double](repeating: 0, count: count)
                widenHalf(UnsafeRawPointer(raw + offset), format: format, into: &floats, count: count)
                widenHalf(UnsafeRawPointer(raw + offset), format: format, into: &doubles, count: count)
                XCTAssertEqual(floats.map(\.bitPattern), expected.map(\.bitPattern), "\(format) at offset \(offset)")
                let mismatches = zip(doubles, expected).filter { !($0.isNaN && $1.isNaN) && $0 != Double($1) }.count
                XCTAssertEqual(mismatches, 0, "\(format) to Double at offset \(offset)")
            }
        }
    }
}
