import Kernels
import TestSupport
import XCTest

final class AttentionTests: XCTestCase {
    /// Float64 kernels against Float64 loops over the same sums: only rounding differs.
    let float64Rounding = 1e-13

    /// Left padding for sequence 0 (two pads: with causal masking its first two query rows see
    /// no key at all), none for sequence 1.
    static let leftPadded: [UInt8] = [0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
    /// Right padding for sequence 0, all real in sequence 1 (bidirectional cases).
    static let rightPadded: [UInt8] = [1, 1, 1, 0, 0, 1, 1, 1, 1, 1]

    /// The configurations every test walks: bidirectional/causal, with/without padding, GQA and
    /// MHA, odd sequence length, batch 2.
    static let cases: [(AttentionShape, [UInt8]?)] = [
        (AttentionShape(batch: 2, sequence: 5, queryHeads: 2, keyValueHeads: 2, headDim: 4, causal: false), nil),
        (AttentionShape(batch: 2, sequence: 5, queryHeads: 4, keyValueHeads: 2, headDim: 4, causal: false), rightPadded),
        (AttentionShape(batch: 2, sequence: 5, queryHeads: 4, keyValueHeads: 2, headDim: 4, causal: true), nil),
        (AttentionShape(batch: 2, sequence: 5, queryHeads: 2, keyValueHeads: 2, headDim: 4, causal: true), leftPadded),
        (AttentionShape(batch: 2, sequence: 5, queryHeads: 4, keyValueHeads: 2, headDim: 4, causal: true), leftPadded),
        (AttentionShape(batch: 2, sequence: 3, queryHeads: 4, keyValueHeads: 1, headDim: 2, causal: true, scale: 0.7), nil),
    ]

    /// Explicit loops in Float64: repeat_kv by h / group, masked keys skipped, a row with no
    /// visible key left at zero.
    func reference(_ q: [Double], _ k: [Double], _ v: [Double], _ mask: [UInt8]?, _ s: AttentionShape) -> [Double] {
        let d = s.headDim, group = s.queryHeads / s.keyValueHeads
        var out = [Double](repeating: 0, count: q.count)
        func qi(_ b: Int, _ t: Int, _ h: Int) -> Int { ((b * s.sequence + t) * s.queryHeads + h) * d }
        func ki(_ b: Int, _ t: Int, _ g: Int) -> Int { ((b * s.sequence + t) * s.keyValueHeads + g) * d }
        for b in 0..<s.batch {
            for h in 0..<s.queryHeads {
                let g = h / group
                for i in 0..<s.sequence {
                    let visible = (0..<s.sequence).filter { j in
                        (!s.causal || j <= i) && (mask == nil || mask![b * s.sequence + j] != 0)
                    }
                    if visible.isEmpty { continue }
                    let scores = visible.map { j in s.scale * (0..<d).reduce(0.0) { $0 + q[qi(b, i, h) + $1] * k[ki(b, j, g) + $1] } }
                    let maximum = scores.max()!
                    let e = scores.map { Double.exp($0 - maximum) }
                    let sum = e.reduce(0, +)
                    for (n, j) in visible.enumerated() {
                        for c in 0..<d { out[qi(b, i, h) + c] += e[n] / sum * v[ki(b, j, g) + c] }
                    }
                }
            }
        }
        return out
    }

    struct Inputs<T: KernelScalar> {
        let q: Buffer<T>, k: Buffer<T>, v: Buffer<T>, out: Buffer<T>, probabilities: Buffer<T>
        let shape: AttentionShape, mask: [UInt8]?

        init(_ shape: AttentionShape, _ mask: [UInt8]?, q: [T], k: [T], v: [T]) {
            self.shape = shape; self.mask = mask
            self.q = Buffer(q); self.k = Buffer(k); self.v = Buffer(v)
            out = Buffer(count: q.count); probabilities = Buffer(count: shape.probabilitiesCount)
        }

        func forward() {
            withMask { attentionForward(q: q.pointer, k: k.pointer, v: v.pointer, keyMask: $0, shape: shape,
                                        out: out.pointer, probabilities: probabilities.pointer) }
        }

        func backward(_ dout: Buffer<T>, dq: Buffer<T>?, dk: Buffer<T>?, dv: Buffer<T>?, workers: Int = 1) {
            let scratch = Buffer<T>(count: shape.backwardScratchCount(workers: workers))
            attentionBackward(dout: dout.pointer, q: q.pointer, k: k.pointer, v: v.pointer,
                              probabilities: probabilities.pointer, shape: shape,
                              dq: dq?.pointer, dk: dk?.pointer, dv: dv?.pointer, scratch: scratch.buffer)
        }

        func withMask(_ body: (UnsafePointer<UInt8>?) -> Void) {
            guard let mask else { return body(nil) }
            mask.withUnsafeBufferPointer { body($0.baseAddress!) }
        }
    }

    static func counts(_ s: AttentionShape) -> (q: Int, kv: Int) {
        (s.batch * s.sequence * s.queryHeads * s.headDim, s.batch * s.sequence * s.keyValueHeads * s.headDim)
    }

    /// A forward that keeps no probabilities (a frozen tower) gives exactly the same output, on
    /// one thread and on two, using only one (S, S) scratch matrix per worker.
    func testForwardWithoutSavedProbabilitiesIsIdentical() {
        var random = TestRandom(seed: 37)
        let saved = KernelThreads.count
        defer { KernelThreads.count = saved }
        for (shape, mask) in Self.cases {
            let (qc, kvc) = Self.counts(shape)
            let q: [Double] = random.uniform(qc, -2, 2), k: [Double] = random.uniform(kvc, -2, 2), v: [Double] = random.uniform(kvc)
            let inputs = Inputs(shape, mask, q: q, k: k, v: v)
            inputs.forward()
            for threads in [1, 2] {
                KernelThreads.count = threads
                let out = Buffer<Double>(count: qc), scratch = Buffer<Double>(count: shape.forwardScratchCount())
                XCTAssertLessThan(scratch.count, max(shape.probabilitiesCount, 1) + 1)
                inputs.withMask { attentionForward(q: inputs.q.pointer, k: inputs.k.pointer, v: inputs.v.pointer, keyMask: $0, shape: shape,
                                                   out: out.pointer, probabilities: scratch.pointer, savesProbabilities: false) }
                XCTAssertEqual(out.array, inputs.out.array, "attention without saved probabilities, \(threads) thread(s), \(shape)")
            }
        }
    }

    func testForwardMatchesNaiveReference() {
        var random = TestRandom(seed: 31)
        for (shape, mask) in Self.cases {
            let (qc, kvc) = Self.counts(shape)
            let q: [Double] = random.uniform(qc, -2, 2), k: [Double] = random.uniform(kvc, -2, 2)
            let v: [Double] = random.uniform(kvc)
            let inputs = Inputs(shape, mask, q: q, k: k, v: v)
            inputs.forward()
            assertClose(inputs.out.array, reference(q, k, v, mask, shape), tolerance: float64Rounding, "attention \(shape)")

            let floats = Inputs<Float>(shape, mask, q: q.map { Float($0) }, k: k.map { Float($0) }, v: v.map { Float($0) })
            floats.forward()
            assertClose(floats.out.array, inputs.out.array.map { Float($0) }, tolerance: Tolerance.float32,
                        "attention Float vs Double \(shape)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        var random = TestRandom(seed: 32)
        for (shape, mask) in Self.cases {
            let (qc, kvc) = Self.counts(shape)
            let inputs = Inputs<Double>(shape, mask, q: random.uniform(qc, -2, 2), k: random.uniform(kvc, -2, 2),
                                        v: random.uniform(kvc))
            let cotangent: Buffer<Double> = random.buffer(qc)
            let loss = { inputs.forward(); return dot(inputs.out.pointer, cotangent.pointer, qc) }
            let numerical = [inputs.q, inputs.k, inputs.v].map { numericalGradient($0, loss) }

            inputs.forward()
            let dq = Buffer<Double>(count: qc), dk = Buffer<Double>(count: kvc), dv = Buffer<Double>(count: kvc)
            inputs.backward(cotangent, dq: dq, dk: dk, dv: dv)
            assertClose(dq.array, numerical[0], tolerance: Tolerance.finiteDifference, "dq \(shape) mask \(mask != nil)")
            assertClose(dk.array, numerical[1], tolerance: Tolerance.finiteDifference, "dk \(shape) mask \(mask != nil)")
            assertClose(dv.array, numerical[2], tolerance: Tolerance.finiteDifference, "dv \(shape) mask \(mask != nil)")
        }
    }

    /// Causal + left padding: the pad query rows of sequence 0 see no key. They must come out
    /// as zeros (output, probabilities, gradients), never NaN.
    func testQueryRowWithoutVisibleKeyIsZero() {
        var random = TestRandom(seed: 33)
        let shape = AttentionShape(batch: 2, sequence: 5, queryHeads: 4, keyValueHeads: 2, headDim: 4, causal: true)
        let (qc, kvc) = Self.counts(shape)
        let inputs = Inputs<Float>(shape, Self.leftPadded, q: random.uniform(qc), k: random.uniform(kvc), v: random.uniform(kvc))
        inputs.forward()
        let rowLength = shape.queryHeads * shape.headDim
        XCTAssertEqual(Array(inputs.out.array[0..<2 * rowLength]), [Float](repeating: 0, count: 2 * rowLength))
        XCTAssertTrue(inputs.out.array[2 * rowLength..<3 * rowLength].contains { $0 != 0 }, "first real row is empty")
        XCTAssertFalse(inputs.probabilities.array.contains { $0.isNaN })
        for h in 0..<shape.queryHeads {  // sequence 0, head h, query rows 0 and 1: no probability mass
            let start = h * 25
            XCTAssertEqual(Array(inputs.probabilities.array[start..<start + 10]), [Float](repeating: 0, count: 10))
        }
        let dout: Buffer<Float> = random.buffer(qc)
        let dq = Buffer<Float>(count: qc), dk = Buffer<Float>(count: kvc), dv = Buffer<Float>(count: kvc)
        inputs.backward(dout, dq: dq, dk: dk, dv: dv)
        XCTAssertFalse((dq.array + dk.array + dv.array).contains { !$0.isFinite })
        XCTAssertEqual(Array(dq.array[0..<2 * rowLength]), [Float](repeating: 0, count: 2 * rowLength))
        // Pad keys get no gradient either: nothing attended to them.
        let kvRow = shape.keyValueHeads * shape.headDim
        XCTAssertEqual(Array(dk.array[0..<2 * kvRow] + dv.array[0..<2 * kvRow]), [Float](repeating: 0, count: 4 * kvRow))
    }

    /// Backward adds into every gradient; nil gradients are skipped without changing the others;
    /// several workers with their own scratch give the single-worker result.
    func testBackwardAccumulatesSkipsNilAndParallelises() {
        var random = TestRandom(seed: 34)
        let (shape, mask) = Self.cases[4]
        let (qc, kvc) = Self.counts(shape)
        let inputs = Inputs<Double>(shape, mask, q: random.uniform(qc), k: random.uniform(kvc), v: random.uniform(kvc))
        inputs.forward()
        let dout: Buffer<Double> = random.buffer(qc)
        let dq = Buffer<Double>(count: qc), dk = Buffer<Double>(count: kvc), dv = Buffer<Double>(count: kvc)
        inputs.backward(dout, dq: dq, dk: dk, dv: dv)
        let once = (dq.array, dk.array, dv.array)
        inputs.backward(dout, dq: dq, dk: dk, dv: dv)
        assertClose(dq.array, once.0.map { 2 * $0 }, tolerance: float64Rounding, "dq must add")
        assertClose(dk.array, once.1.map { 2 * $0 }, tolerance: float64Rounding, "dk must add")
        assertClose(dv.array, once.2.map { 2 * $0 }, tolerance: float64Rounding, "dv must add")

        let dvOnly = Buffer<Double>(count: kvc), dkOnly = Buffer<Double>(count: kvc)
        inputs.backward(dout, dq: nil, dk: nil, dv: dvOnly)
        inputs.backward(dout, dq: nil, dk: dkOnly, dv: nil)
        XCTAssertEqual(dvOnly.array, once.2)
        XCTAssertEqual(dkOnly.array, once.1)

        let savedThreads = KernelThreads.count
        defer { KernelThreads.count = savedThreads }
        KernelThreads.count = 2
        for workers in [1, 2] {  // scratch for one worker only must still work with 2 threads
            let pq = Buffer<Double>(count: qc), pk = Buffer<Double>(count: kvc), pv = Buffer<Double>(count: kvc)
            inputs.forward()
            inputs.backward(dout, dq: pq, dk: pk, dv: pv, workers: workers)
            assertClose(pq.array, once.0, tolerance: float64Rounding, "dq with 2 threads, \(workers) scratch")
            assertClose(pk.array, once.1, tolerance: float64Rounding, "dk with 2 threads, \(workers) scratch")
            assertClose(pv.array, once.2, tolerance: float64Rounding, "dv with 2 threads, \(workers) scratch")
        }
    }
}
