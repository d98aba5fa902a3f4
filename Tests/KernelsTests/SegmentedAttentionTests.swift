import Kernels
import TestSupport
import XCTest

/// Packed segments (the images of one vision batch in one run of rows): attention must be
/// block-diagonal, i.e. exactly what running every segment on its own computes.
final class SegmentedAttentionTests: XCTestCase {
    /// Segment lengths with an empty one and a single row; GQA and MHA, causal and not.
    static let lengths = [3, 0, 5, 1, 4]
    static let layouts: [(queryHeads: Int, keyValueHeads: Int, causal: Bool)] = [(2, 2, false), (4, 2, false), (4, 1, true)]
    static let headDim = 4

    static func bounds(_ lengths: [Int]) -> [Int32] { lengths.reduce(into: [Int32(0)]) { $0.append($0.last! + Int32($1)) } }

    struct Packed {
        let q: Buffer<Double>, k: Buffer<Double>, v: Buffer<Double>
        let bounds: [Int32]
        let queryHeads: Int, keyValueHeads: Int, causal: Bool
        var rows: Int { Int(bounds.last!) }
        var queryWidth: Int { queryHeads * SegmentedAttentionTests.headDim }
        var keyWidth: Int { keyValueHeads * SegmentedAttentionTests.headDim }

        init(lengths: [Int], _ layout: (queryHeads: Int, keyValueHeads: Int, causal: Bool), random: inout TestRandom) {
            bounds = SegmentedAttentionTests.bounds(lengths)
            (queryHeads, keyValueHeads, causal) = layout
            let rows = Int(bounds.last!), d = SegmentedAttentionTests.headDim
            q = random.buffer(rows * layout.queryHeads * d)
            k = random.buffer(rows * layout.keyValueHeads * d)
            v = random.buffer(rows * layout.keyValueHeads * d)
        }

        /// Runs `body` with the packed shape (its segments point into `bounds`).
        func withShape<R>(_ body: (AttentionShape) -> R) -> R {
            bounds.withUnsafeBufferPointer { b in
                let segments = AttentionSegments(bounds: b.baseAddress!, count: b.count - 1)
                return body(AttentionShape(batch: 1, sequence: rows, queryHeads: queryHeads, keyValueHeads: keyValueHeads,
                                           headDim: SegmentedAttentionTests.headDim, causal: causal, segments: segments))
            }
        }

        /// (output, probabilities) of the packed call.
        func forward(saving: Bool = true) -> ([Double], Buffer<Double>) {
            withShape { shape in
                let out = Buffer<Double>(count: rows * queryWidth)
                let p = Buffer<Double>(count: max(saving ? shape.probabilitiesCount : shape.forwardScratchCount(), 1))
                attentionForward(q: q.pointer, k: k.pointer, v: v.pointer, keyMask: nil, shape: shape, out: out.pointer,
                                 probabilities: p.pointer, savesProbabilities: saving)
                return (out.array, p)
            }
        }

        /// Each segment on its own, as a batch of one: the packed result must equal this bit for bit.
        func forwardOneByOne() -> [Double] {
            var out = [Double]()
            for s in 0..<bounds.count - 1 {
                let start = Int(bounds[s]), n = Int(bounds[s + 1]) - start
                if n == 0 { continue }
                let shape = AttentionShape(batch: 1, sequence: n, queryHeads: queryHeads, keyValueHeads: keyValueHeads,
                                           headDim: SegmentedAttentionTests.headDim, causal: causal)
                let o = Buffer<Double>(count: n * queryWidth), p = Buffer<Double>(count: shape.probabilitiesCount)
                attentionForward(q: q.pointer + start * queryWidth, k: k.pointer + start * keyWidth, v: v.pointer + start * keyWidth,
                                 keyMask: nil, shape: shape, out: o.pointer, probabilities: p.pointer)
                out += o.array
            }
            return out
        }
    }

    func testPackedSegmentsEqualEachSegmentAlone() {
        var random = TestRandom(seed: 41)
        let saved = KernelThreads.count
        defer { KernelThreads.count = saved }
        for layout in Self.layouts {
            let packed = Packed(lengths: Self.lengths, layout, random: &random)
            let alone = packed.forwardOneByOne()
            for threads in [1, 2] {
                KernelThreads.count = threads
                XCTAssertEqual(packed.forward().0, alone, "packed vs alone, \(layout), \(threads) thread(s)")
                XCTAssertEqual(packed.forward(saving: false).0, alone, "packed without saved P, \(layout), \(threads) thread(s)")
            }
        }
    }

    /// Changing one segment's rows leaves every other segment's output bit-identical.
    func testSegmentsDoNotSeeEachOther() {
        var random = TestRandom(seed: 42)
        let packed = Packed(lengths: Self.lengths, Self.layouts[1], random: &random)
        let before = packed.forward().0
        let third = (Int(packed.bounds[2]), Int(packed.bounds[3]))   // segment 2: five rows
        for r in third.0..<third.1 {
            for i in 0..<packed.keyWidth { packed.k[r * packed.keyWidth + i] += 0.5; packed.v[r * packed.keyWidth + i] -= 0.25 }
        }
        let after = packed.forward().0
        let w = packed.queryWidth
        XCTAssertEqual(Array(after[..<(third.0 * w)]), Array(before[..<(third.0 * w)]))
        XCTAssertEqual(Array(after[(third.1 * w)...]), Array(before[(third.1 * w)...]))
        XCTAssertNotEqual(Array(after[(third.0 * w)..<(third.1 * w)]), Array(before[(third.0 * w)..<(third.1 * w)]))
    }

    func testPackedBackwardMatchesFiniteDifferences() {
        var random = TestRandom(seed: 43)
        for layout in Self.layouts {
            let packed = Packed(lengths: Self.lengths, layout, random: &random)
            let qc = packed.q.count, kvc = packed.k.count
            let cotangent: Buffer<Double> = random.buffer(qc)
            let loss = { () -> Double in
                let out = packed.forward().0
                return zip(out, cotangent.array).reduce(0) { $0 + $1.0 * $1.1 }
            }
            let numerical = [packed.q, packed.k, packed.v].map { numericalGradient($0, loss) }
            let (_, probabilities) = packed.forward()
            let dq = Buffer<Double>(count: qc), dk = Buffer<Double>(count: kvc), dv = Buffer<Double>(count: kvc)
            packed.withShape { shape in
                let scratch = Buffer<Double>(count: shape.backwardScratchCount())
                attentionBackward(dout: cotangent.pointer, q: packed.q.pointer, k: packed.k.pointer, v: packed.v.pointer,
                                  probabilities: probabilities.pointer, shape: shape, dq: dq.pointer, dk: dk.pointer, dv: dv.pointer,
                                  scratch: scratch.buffer)
            }
            assertClose(dq.array, numerical[0], tolerance: Tolerance.finiteDifference, "packed dq \(layout)")
            assertClose(dk.array, numerical[1], tolerance: Tolerance.finiteDifference, "packed dk \(layout)")
            assertClose(dv.array, numerical[2], tolerance: Tolerance.finiteDifference, "packed dv \(layout)")
        }
    }
}
