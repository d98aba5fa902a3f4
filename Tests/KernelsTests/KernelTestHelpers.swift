import Kernels
import XCTest

/// The same values in Double, for Float-vs-Double agreement checks.
func widenedToDouble(_ buffer: Buffer<Float>) -> Buffer<Double> { Buffer(buffer.array.map { Double($0) }) }

/// Runs `body` with `threads` kernel worker threads and restores the setting, so a test can
/// compare a threaded run with the single-threaded one. XCTest runs test methods one at a
/// time, so no other test sees the changed setting.
func withKernelThreads<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
    let saved = KernelThreads.count
    KernelThreads.count = threads
    defer { KernelThreads.count = saved }
    return try body()
}

/// Three workers (an odd split over two cores) for the threaded-vs-single checks; each kernel
/// test sizes its data so that every parallelFor in it really splits three ways.
let testThreadCount = 3

/// Fails at the first differing element (a plain XCTAssertEqual on arrays this long would print
/// both arrays whole).
func assertBitIdentical(_ actual: [Double], _ expected: [Double], _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(what): \(actual.count) elements, expected \(expected.count)", file: file, line: line)
        return
    }
    if let i = actual.indices.first(where: { actual[$0].bitPattern != expected[$0].bitPattern }) {
        XCTFail("\(what): element \(i) is \(actual[i]), expected \(expected[i])", file: file, line: line)
    }
}
