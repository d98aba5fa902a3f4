/// The element types Discern reads and writes; names as they appear in the header.
package enum SafetensorsDType: String, CaseIterable, Sendable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL

    package var byteSize: Int {
        switch self {
        case .F64, .I64: return 8
        case .F32, .I32: return 4
        case .F16, .BF16, .I16: return 2
        case .I8, .U8, .BOOL: return 1
        }
    }

    package var isFloatingPoint: Bool { self == .F64 || self == .F32 || self == .F16 || self == .BF16 }
}

/// One tensor's entry in a safetensors header.
package struct SafetensorsTensorInfo: Sendable, Equatable {
    package let name: String
    package let dtype: SafetensorsDType
    package let shape: [Int]
    /// Byte range relative to the start of the data buffer (after the header).
    package let dataOffsets: Range<Int>

    /// Product of the shape; 1 for a scalar (shape []).
    package var elementCount: Int { shape.reduce(1, *) }
}

/// The parsed, validated header. The checks are listed in docs/model.md: every check that protects a
/// memory-mapped read (sizes, offsets, overlaps) happens here, before any tensor byte is touched.
struct SafetensorsHeader {
    /// Files with bigger headers are rejected, as the reference implementation does: a hostile
    /// length would otherwise make us parse gigabytes of "JSON".
    static let maximumHeaderLength = 100_000_000

    let metadata: [String: String]
    let tensors: [String: SafetensorsTensorInfo]
    /// Where the data buffer starts in the file (8 + header length).
    let dataStart: Int

    /// Validates the fixed prefix and header of a whole file held in `file`.
    init(file: UnsafeRawBufferPointer, path: String) throws(FormatError) {
        guard file.count >= 8 else {
            throw FormatError(file: path, "is \(file.count) bytes long, too short for the 8-byte header length; not a safetensors file")
        }
        let declared = UInt64(littleEndian: file.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard declared <= UInt64(Self.maximumHeaderLength) else {
            throw FormatError(file: path, "header length \(declared) exceeds the \(Self.maximumHeaderLength)-byte limit; the file is corrupt or not a safetensors file")
        }
        let headerLength = Int(declared)
        // No overflow possible: headerLength <= 1e8.
        guard 8 + headerLength <= file.count else {
            throw FormatError(file: path, "header length \(headerLength) runs past the end of the \(file.count)-byte file; the file is truncated")
        }
        dataStart = 8 + headerLength
        // Raw bytes read as UInt8 in place: the mapping is plain bytes.
        let headerBytes = UnsafeBufferPointer(start: file.baseAddress!.assumingMemoryBound(to: UInt8.self) + 8, count: headerLength)
        let document: JSONValue
        do {
            document = try JSONValue.parse(headerBytes)
        } catch {
            throw FormatError(file: path, "header is not valid JSON (\(error))")
        }
        let root = try JSONNode(value: document, path: "", file: path).object()

        var metadata: [String: String] = [:]
        var tensors: [String: SafetensorsTensorInfo] = [:]
        for (name, node) in root.nodes {
            if name == "__metadata__" {
                for (key, value) in try node.object().nodes {
                    guard case .string(let text) = value.value else {
                        throw FormatError(file: path, entry: "__metadata__.\(key)", "metadata values must be strings, found \(value.value.kindName)")
                    }
                    metadata[key] = text
                }
                continue
            }
            // The parser already rejected byte-identical duplicates; Swift dictionaries compare
            // names by canonical equivalence, so two spellings of one name must be caught here.
            guard tensors[name] == nil else {
                throw FormatError(file: path, entry: name, "tensor name appears twice (in two Unicode spellings)")
            }
            tensors[name] = try Self.tensorInfo(name: name, node: node, path: path)
        }
        self.metadata = metadata
        self.tensors = tensors
        try Self.checkLayout(tensors: tensors, dataLength: file.count - dataStart, path: path)
    }

    static func tensorInfo(name: String, node: JSONNode, path: String) throws(FormatError) -> SafetensorsTensorInfo {
        let entry = try node.object()
        let dtypeName = try entry.string("dtype")
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            let known = SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
            throw FormatError(file: path, entry: name, "unsupported dtype '\(dtypeName)' (supported: \(known))")
        }
        var shape: [Int] = []
        for dimension in try entry.required("shape").array() {
            guard case .integer(let size) = dimension.value, size >= 0 else {
                throw FormatError(file: path, entry: name, "shape entries must be non-negative integers")
            }
            shape.append(size)
        }
        let offsets = try entry.required("data_offsets").array()
        guard offsets.count == 2, case .integer(let begin) = offsets[0].value, case .integer(let end) = offsets[1].value,
              begin >= 0, begin <= end
        else {
            throw FormatError(file: path, entry: name, "data_offsets must be two non-negative integers [begin, end] with begin <= end")
        }
        var byteCount = dtype.byteSize
        for size in shape {
            let (product, overflow) = byteCount.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw FormatError(file: path, entry: name, "shape \(shape) of \(dtypeName) is too large (byte count overflows)")
            }
            byteCount = product
        }
        guard byteCount == end - begin else {
            throw FormatError(file: path, entry: name, "\(dtypeName) shape \(shape) needs \(byteCount) bytes but data_offsets [\(begin), \(end)] span \(end - begin)")
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// Sorted by offset, the tensors must tile the data buffer exactly: no gap, no overlap,
    /// nothing after the last one.
    static func checkLayout(tensors: [String: SafetensorsTensorInfo], dataLength: Int, path: String) throws(FormatError) {
        let ordered = tensors.values.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name)
        }
        var expectedBegin = 0
        var previous: String?
        for tensor in ordered {
            let begin = tensor.dataOffsets.lowerBound
            if begin < expectedBegin {
                throw FormatError(file: path, entry: tensor.name, "data_offsets start at \(begin), overlapping '\(previous ?? "")' which ends at \(expectedBegin)")
            }
            if begin > expectedBegin {
                let after = previous.map { "after '\($0)'" } ?? "at the start of the data"
                throw FormatError(file: path, entry: tensor.name, "gap of \(begin - expectedBegin) bytes \(after) (data_offsets start at \(begin), expected \(expectedBegin))")
            }
            expectedBegin = tensor.dataOffsets.upperBound
            previous = tensor.name
        }
        if expectedBegin > dataLength {
            throw FormatError(file: path, entry: previous, "data ends at byte \(expectedBegin) of the data buffer but the file holds only \(dataLength) data bytes; the file is truncated")
        }
        if expectedBegin < dataLength {
            throw FormatError(file: path, "\(dataLength - expectedBegin) bytes after the last tensor belong to no tensor; the file is corrupt")
        }
    }
}
