import Kernels
import Layers
import XCTest

/// 16-bit values owned outside the table, as a mapped weight file would own them.
final class HalfStorage {
    let pointer: UnsafeMutablePointer<UInt16>
    let count: Int

    /// `values` rounded to `format`.
    init(_ values: [Float], format: HalfFormat) {
        count = values.count
        pointer = .allocate(capacity: max(count, 1))
        switch format {
        case .float16: narrowToFloat16(values, pointer, count: count)
        case .bfloat16: narrowToBFloat16(values, pointer, count: count)
        }
    }

    deinit { pointer.deallocate() }

    func matrix(_ format: HalfFormat, rows: Int, columns: Int) -> HalfMatrix {
        HalfMatrix(bytes: UnsafeRawPointer(pointer), format: format, rows: rows, columns: columns, owner: self)
    }

    /// The exact Float values of the 16-bit storage.
    func widened(_ format: HalfFormat) -> [Float] {
        var result = [Float](repeating: 0, count: count)
        widenHalf(UnsafeRawPointer(pointer), format: format, into: &result, count: count)
        return result
    }
}

final class HalfWeightTests: XCTestCase {
    func randomValues(_ count: Int, _ random: inout Xoshiro256) -> [Float] { (0..<count).map { _ in random.uniform(-1, 1) } }

    func testHalfWeightsGetNoFloatStorageAndShareOneWideningBuffer() {
        var random = Xoshiro256(seed: 1)
        let big = HalfStorage(randomValues(6 * 5, &random), format: .bfloat16)
        let small = HalfStorage(randomValues(2 * 3, &random), format: .float16)
        let table = ParameterTable<Float>([
            ParameterSpec("big", [6, 5], trainable: false),
            ParameterSpec("small", [2, 3], trainable: false),
            ParameterSpec("norm", [4], trainable: false),
            ParameterSpec("adapter", [3], trainable: true),
        ], halfWeights: ["big": big.matrix(.bfloat16, rows: 6, columns: 5), "small": small.matrix(.float16, rows: 2, columns: 3)])
        XCTAssertEqual(table.frozenValueCount, 4, "only the norm has Float storage among the frozen tensors")
        XCTAssertEqual(table.trainableValues.count, 3)
        XCTAssertEqual(table.widening?.capacity, 30, "one buffer, sized for the largest 16-bit weight")
        XCTAssertEqual(table.halfParameters.map(\.name), ["big", "small"])
        XCTAssertNil(table["big"].gradient)

        let bigValues = big.widened(.bfloat16), smallValues = small.widened(.float16)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: table["big"].readable(), count: 30)), bigValues)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: table["small"].readable(), count: 6)), smallValues)
        XCTAssertEqual(table["small"].readable(), table["big"].readable(), "the same shared buffer")
        var row = [Float](repeating: 0, count: 5)
        table["big"].copyRow(4, into: &row)
        XCTAssertEqual(row, Array(bigValues[20..<25]), "a row lookup widens that row only")
        XCTAssertEqual(Array(UnsafeBufferPointer(start: table["small"].readable(), count: 6)), smallValues,
                       "a row lookup leaves the shared buffer alone")
        XCTAssertNil(ParameterTable<Float>([ParameterSpec("norm", [4], trainable: false)]).widening)
    }

    /// A Linear over a 16-bit weight computes exactly what it computes over the same weight
    /// widened up front: the GEMMs see identical Float operands.
    func testLinearForwardBackwardOnHalfWeightIsBitIdenticalToWidened() {
        let rows = 7, input = 29, output = 37, rank = 3
        for format in HalfFormat.allCases {
            var random = Xoshiro256(seed: 2)
            let storage = HalfStorage(randomValues(output * input, &random), format: format)
            let bias = randomValues(output, &random), a = randomValues(rank * input, &random), b = randomValues(output * rank, &random)
            let x = randomValues(rows * input, &random), dy = randomValues(rows * output, &random)
            let specs = [ParameterSpec("w", [output, input], trainable: false), ParameterSpec("bias", [output], trainable: false),
                         ParameterSpec("a", [rank, input], trainable: true), ParameterSpec("b", [output, rank], trainable: true)]
            func run(_ table: ParameterTable<Float>) -> (y: [Float], dx: [Float], gradients: [Float]) {
                table["bias"].value.update(from: bias, count: output)
                table["a"].value.update(from: a, count: a.count)
                table["b"].value.update(from: b, count: b.count)
                let linear = Linear(weight: table["w"], bias: table["bias"], lora: LoRA(a: table["a"], b: table["b"], alpha: 6))
                var y = [Float](repeating: 0, count: rows * output), dx = [Float](repeating: 0, count: rows * input)
                let tape = Linear<Float>.Tape()
                linear.forward(x, rows: rows, into: &y, tape: tape)
                linear.backward(dy, input: x, rows: rows, dx: &dx, tape: tape, scratch: GrowableBuffer())
                return (y, dx, table.trainableGradients.array)
            }
            let dense = ParameterTable<Float>(specs)
            dense["w"].value.update(from: storage.widened(format), count: output * input)
            let half = ParameterTable<Float>(specs, halfWeights: ["w": storage.matrix(format, rows: output, columns: input)])
            let expected = run(dense), actual = run(half)
            XCTAssertEqual(actual.y.map(\.bitPattern), expected.y.map(\.bitPattern), "\(format) forward")
            XCTAssertEqual(actual.dx.map(\.bitPattern), expected.dx.map(\.bitPattern), "\(format) dx")
            XCTAssertEqual(actual.gradients.map(\.bitPattern), expected.gradients.map(\.bitPattern), "\(format) LoRA gradients")
            XCTAssertGreaterThan(expected.dx.map(abs).max()!, 0)
        }
    }
}
