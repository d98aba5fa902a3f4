import Layers
import XCTest

final class ParameterTableTests: XCTestCase {
    func testTrainableParametersAreSlicesOfOneFlatVector() {
        let table = ParameterTable<Float>([
            ParameterSpec("a", [2, 3], trainable: true),
            ParameterSpec("frozen", [4], trainable: false),
            ParameterSpec("b", [5], trainable: true),
        ])
        XCTAssertEqual(table.trainableValues.count, 11)
        XCTAssertEqual(table["a"].value, table.trainableValues.pointer)
        XCTAssertEqual(table["b"].value, table.trainableValues.pointer + 6)
        XCTAssertEqual(table["b"].gradient, table.trainableGradients.pointer + 6)
        XCTAssertNil(table["frozen"].gradient)
        XCTAssertEqual(table.trainable.map(\.name), ["a", "b"])
        table["b"].gradient![4] = 3
        XCTAssertEqual(table.trainableGradients[10], 3)
        table.zeroGradients()
        XCTAssertEqual(table.trainableGradients[10], 0)
    }
}
