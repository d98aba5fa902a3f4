import Formats

/// The Python twin's fixture tensors (float64 values, int64 ids) as Swift arrays.
extension SafetensorsFile {
    func float64s(_ name: String) throws -> [Double] {
        let bytes = try rawBytes(name)
        return (0..<bytes.count / 8).map { bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) }
    }

    func int64s(_ name: String) throws -> (values: [Int32], shape: [Int]) {
        let bytes = try rawBytes(name)
        return ((0..<bytes.count / 8).map { Int32(bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }, try info(name).shape)
    }
}
