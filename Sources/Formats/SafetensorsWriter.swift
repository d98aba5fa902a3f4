import Kernels

/// Collects tensors and writes them as one safetensors file, deterministically and atomically.
///
/// Layout: `__metadata__` always carries `"format": "pt"` (some transformers versions refuse files
/// without it); tensors are stored by decreasing element size, then by name, and the header is
/// padded with spaces to a multiple of 8, so every tensor is aligned to its element size in a
/// mapped file (the same rule as the Python library). Equal inputs give byte-identical files.
package struct SafetensorsWriter: Sendable {
    private struct Entry: Sendable {
        let dtype: SafetensorsDType
        let shape: [Int]
        let bytes: [UInt8]
    }

    private var entries: [String: Entry] = [:]
    /// Extra `__metadata__` entries; "format" is always written as "pt".
    package var metadata: [String: String]

    package init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Names added so far, in no particular order.
    package var names: [String] { Array(entries.keys) }

    /// Adds raw little-endian row-major bytes for `shape` of `dtype`.
    package mutating func add(_ name: String, dtype: SafetensorsDType, shape: [Int], bytes: UnsafeRawBufferPointer) throws(FormatError) {
        try add(name, dtype: dtype, shape: shape, bytes: Array(bytes))
    }

    package mutating func add(_ name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) throws(FormatError) {
        guard !name.isEmpty, name != "__metadata__" else {
            throw FormatError(file: "safetensors writer", entry: name, "is not a usable tensor name")
        }
        guard entries[name] == nil else {
            throw FormatError(file: "safetensors writer", entry: name, "tensor added twice")
        }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw FormatError(file: "safetensors writer", entry: name, "shape \(shape) has a negative dimension")
        }
        let needed = shape.reduce(dtype.byteSize, *)
        guard needed == bytes.count else {
            throw FormatError(file: "safetensors writer", entry: name, "\(dtype.rawValue) shape \(shape) needs \(needed) bytes, got \(bytes.count)")
        }
        entries[name] = Entry(dtype: dtype, shape: shape, bytes: bytes)
    }

    /// Adds Float32 values stored as `dtype` (F32, F64, or F16/BF16 rounded to nearest even).
    package mutating func add(_ name: String, shape: [Int], floats: UnsafeBufferPointer<Float>, as dtype: SafetensorsDType = .F32) throws(FormatError) {
        let count = floats.count
        var bytes = [UInt8](repeating: 0, count: count * dtype.byteSize)
        if count > 0, let source = floats.baseAddress {
            bytes.withUnsafeMutableBytes { raw in
                switch dtype {
                case .F32:
                    raw.copyMemory(from: UnsafeRawBufferPointer(floats))
                case .F64:
                    let destination = raw.bindMemory(to: Double.self)
                    for i in 0..<count { destination[i] = Double(source[i]) }
                case .F16:
                    narrowToFloat16(source, raw.bindMemory(to: UInt16.self).baseAddress!, count: count)
                case .BF16:
                    narrowToBFloat16(source, raw.bindMemory(to: UInt16.self).baseAddress!, count: count)
                default:
                    break  // rejected below
                }
            }
        }
        guard dtype.isFloatingPoint else {
            throw FormatError(file: "safetensors writer", entry: name, "cannot store Float values as \(dtype.rawValue)")
        }
        try add(name, dtype: dtype, shape: shape, bytes: bytes)
    }

    package mutating func add(_ name: String, shape: [Int], floats: [Float], as dtype: SafetensorsDType = .F32) throws(FormatError) {
        try floats.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<Float>) throws(FormatError) in
            try add(name, shape: shape, floats: buffer, as: dtype)
        }
    }

    /// The complete file contents' header: 8-byte length, JSON, padding. Also returns the data order.
    private func header() -> (bytes: [UInt8], order: [String]) {
        let declared = entries.map { SafetensorsTensorDeclaration(name: $0.key, dtype: $0.value.dtype, shape: $0.value.shape) }
        let (bytes, order) = safetensorsHeader(declared, metadata: metadata)
        return (bytes, order.map(\.name))
    }

    /// Writes the file atomically (temporary file in the same directory, fsync, rename).
    package func write(to path: String) throws(FormatError) {
        let (headerBytes, order) = header()
        try writeFileAtomically(path) { (write: (UnsafeRawBufferPointer) throws(FormatError) -> Void) throws(FormatError) in
            try headerBytes.withUnsafeBufferPointer { (buffer) throws(FormatError) in try write(UnsafeRawBufferPointer(buffer)) }
            for name in order {
                try entries[name]!.bytes.withUnsafeBufferPointer { (buffer) throws(FormatError) in try write(UnsafeRawBufferPointer(buffer)) }
            }
        }
    }
}

/// One tensor of a file whose header is written before its data exists.
package struct SafetensorsTensorDeclaration: Sendable, Equatable {
    package let name: String
    package let dtype: SafetensorsDType
    package let shape: [Int]
    package init(name: String, dtype: SafetensorsDType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }
    package var byteCount: Int { shape.reduce(dtype.byteSize, *) }
}

/// The header of a file holding `tensors`, and the order their data follows it in: by
/// decreasing element size, then by name (see SafetensorsWriter); "format": "pt" always set.
func safetensorsHeader(_ tensors: [SafetensorsTensorDeclaration], metadata: [String: String]) -> (bytes: [UInt8], order: [SafetensorsTensorDeclaration]) {
    let order = tensors.sorted { left, right in
        let (a, b) = (left.dtype.byteSize, right.dtype.byteSize)
        return a != b ? a > b : Array(left.name.utf8).lexicographicallyPrecedes(Array(right.name.utf8))
    }
    var fullMetadata = metadata
    fullMetadata["format"] = "pt"
    var json = "{\"__metadata__\":{"
    json += fullMetadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(fullMetadata[$0]!))" }.joined(separator: ",")
    json += "}"
    var offset = 0
    for tensor in order {
        let shape = tensor.shape.map(String.init).joined(separator: ",")
        json += ",\(jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + tensor.byteCount)]}"
        offset += tensor.byteCount
    }
    json += "}"
    var headerJSON = Array(json.utf8)
    headerJSON.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - headerJSON.count % 8) % 8))
    var bytes = withUnsafeBytes(of: UInt64(headerJSON.count).littleEndian) { Array($0) }
    bytes.append(contentsOf: headerJSON)
    return (bytes, order)
}

/// Writes a safetensors file whose tensor data is produced while it is written, so a file
/// bigger than memory never exists in memory: the header comes from the declarations, then
/// `produce` is called once per tensor, in file order, and must hand `write` exactly that
/// tensor's bytes (in as many chunks as it likes). Same layout as SafetensorsWriter, and as
/// atomic: a temporary file, fsync, rename. An error `produce` throws that is not a FormatError
/// comes back as one naming the tensor.
package func writeSafetensorsStreaming(
    to path: String, tensors: [SafetensorsTensorDeclaration], metadata: [String: String] = [:],
    produce: (_ tensor: SafetensorsTensorDeclaration, _ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
) throws(FormatError) {
    var names = Set<String>()
    for tensor in tensors {
        guard !tensor.name.isEmpty, tensor.name != "__metadata__", names.insert(tensor.name).inserted else {
            throw FormatError(file: path, entry: tensor.name, "is empty, reserved or declared twice")
        }
        guard tensor.shape.allSatisfy({ $0 >= 0 }) else { throw FormatError(file: path, entry: tensor.name, "shape \(tensor.shape) has a negative dimension") }
    }
    let (headerBytes, order) = safetensorsHeader(tensors, metadata: metadata)
    try writeFileAtomically(path) { (write: (UnsafeRawBufferPointer) throws(FormatError) -> Void) throws(FormatError) in
        try headerBytes.withUnsafeBufferPointer { (buffer) throws(FormatError) in try write(UnsafeRawBufferPointer(buffer)) }
        // `produce` and `write` are both non-escaping; `produce` only calls `write` while it runs.
        try withoutActuallyEscaping(write) { (write) throws(FormatError) in
            for tensor in order {
                var written = 0
                do {
                    try produce(tensor) { (chunk: UnsafeRawBufferPointer) throws(FormatError) in
                        guard written + chunk.count <= tensor.byteCount else {
                            throw FormatError(file: path, entry: tensor.name, "more than its \(tensor.byteCount) bytes were produced")
                        }
                        written += chunk.count
                        try write(chunk)
                    }
                } catch let error as FormatError {
                    throw error
                } catch {
                    throw FormatError(file: path, entry: tensor.name, "could not be produced: \(error)")
                }
                guard written == tensor.byteCount else {
                    throw FormatError(file: path, entry: tensor.name, "\(written) of its \(tensor.byteCount) bytes were produced")
                }
            }
        }
    }
}

/// A JSON string literal: quotes, backslashes and control characters escaped, the rest as UTF-8.
package func jsonString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}
