import Kernels

/// Named tensors read from one safetensors file or from a sharded set (SafetensorsShards).
package protocol TensorSource: AnyObject, Sendable {
    /// All tensor names, sorted.
    var names: [String] { get }
    func info(_ name: String) throws(FormatError) -> SafetensorsTensorInfo
    /// The tensor's bytes, little-endian row-major, in place in the mapped file: valid only while
    /// this source is alive, and possibly unaligned (the header length need not be a multiple of 8).
    func rawBytes(_ name: String) throws(FormatError) -> UnsafeRawBufferPointer
    /// The file that holds `name` (or the index/file to blame when it is absent), for messages.
    func file(containing name: String) -> String
}

extension TensorSource {
    package func contains(_ name: String) -> Bool { (try? info(name)) != nil }

    /// Copies a floating-point tensor into `destination` as Float32, widening F16/BF16 exactly and
    /// rounding F64. `count` must equal the tensor's element count (a check against reading a
    /// tensor into a buffer of the wrong shape).
    package func copyAsFloat(_ name: String, into destination: UnsafeMutablePointer<Float>, count: Int) throws(FormatError) {
        let tensor = try floatingPointTensor(name, count: count)
        widenToFloat(try rawBytes(name), dtype: tensor.dtype, into: destination, count: count)
    }

    /// Copies a floating-point tensor into `destination` as bf16 bits: BF16 as stored, the other
    /// dtypes widened to Float32 and rounded to nearest even (the rounding torch's `.bfloat16()`
    /// does). Goes through a bounded Float32 chunk, never a full-size copy.
    package func copyAsBFloat16(_ name: String, into destination: UnsafeMutablePointer<UInt16>, count: Int) throws(FormatError) {
        let tensor = try floatingPointTensor(name, count: count)
        let bytes = try rawBytes(name)
        guard count > 0, let base = bytes.baseAddress else { return }
        defer { releaseMappedPages(bytes) }   // the copy is what stays; the file pages need not
        if tensor.dtype == .BF16 {
            UnsafeMutableRawPointer(destination).copyMemory(from: base, byteCount: 2 * count)
            return
        }
        let chunk = 1 << 14, size = tensor.dtype.byteSize
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
        defer { scratch.deallocate() }
        var start = 0
        while start < count {
            let n = min(chunk, count - start)
            widenToFloat(UnsafeRawBufferPointer(start: base + size * start, count: size * n), dtype: tensor.dtype, into: scratch, count: n)
            narrowToBFloat16(scratch, destination + start, count: n)
            start += n
        }
    }

    /// The tensor's header entry, checked for a copy of `count` elements: that count exactly (a
    /// check against reading a tensor into a buffer of the wrong shape), a floating-point dtype.
    func floatingPointTensor(_ name: String, count: Int) throws(FormatError) -> SafetensorsTensorInfo {
        let tensor = try info(name)
        guard count == tensor.elementCount else {
            throw FormatError(file: file(containing: name), entry: name, "has \(tensor.elementCount) elements (shape \(tensor.shape)) but \(count) were requested")
        }
        guard tensor.dtype.isFloatingPoint else {
            throw FormatError(file: file(containing: name), entry: name, "is \(tensor.dtype.rawValue), not a floating-point tensor")
        }
        return tensor
    }

    /// The tensor as a new Float32 array (see copyAsFloat).
    package func floats(_ name: String) throws(FormatError) -> [Float] {
        let count = try info(name).elementCount
        var result = [Float](repeating: 0, count: count)
        try result.withUnsafeMutableBufferPointer { (buffer: inout UnsafeMutableBufferPointer<Float>) throws(FormatError) in
            if let base = buffer.baseAddress { try copyAsFloat(name, into: base, count: count) }
        }
        return result
    }
}

/// Widens `count` elements of a floating-point dtype to Float32. `bytes` may be unaligned.
func widenToFloat(_ bytes: UnsafeRawBufferPointer, dtype: SafetensorsDType, into destination: UnsafeMutablePointer<Float>, count: Int) {
    precondition(bytes.count == count * dtype.byteSize, "widenToFloat: byte count does not match")
    guard count > 0, let base = bytes.baseAddress else { return }
    switch dtype {
    case .F32:
        UnsafeMutableRawPointer(destination).copyMemory(from: base, byteCount: bytes.count)
    case .F64:
        for i in 0..<count { destination[i] = Float(base.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
    case .F16, .BF16:
        // The Kernels widening loops want aligned UInt16; a misaligned tensor goes through a
        // bounded aligned scratch chunk instead of one full-size copy.
        let widen = dtype == .F16 ? widenFloat16 : widenBFloat16
        if Int(bitPattern: base) % MemoryLayout<UInt16>.alignment == 0 {
            widen(base.assumingMemoryBound(to: UInt16.self), destination, count)
        } else {
            let chunk = 1 << 14
            let scratch = UnsafeMutablePointer<UInt16>.allocate(capacity: chunk)
            defer { scratch.deallocate() }
            var start = 0
            while start < count {
                let n = min(chunk, count - start)
                UnsafeMutableRawPointer(scratch).copyMemory(from: base + 2 * start, byteCount: 2 * n)
                widen(scratch, destination + start, n)
                start += n
            }
        }
    default:
        preconditionFailure("widenToFloat: \(dtype) is not floating point")
    }
}

/// A safetensors file, memory-mapped read-only and validated on open (see SafetensorsHeader).
/// Tensor bytes are views into the mapping, which is released when this object is.
package final class SafetensorsFile: TensorSource, @unchecked Sendable {  // immutable after init
    package let path: String
    /// The header's `__metadata__` (e.g. ["format": "pt"]).
    package let metadata: [String: String]
    package let names: [String]
    private let tensors: [String: SafetensorsTensorInfo]
    private let mapping: MappedFile
    private let dataStart: Int

    package init(path: String) throws(FormatError) {
        self.path = path
        mapping = try MappedFile(path: path)
        let header = try SafetensorsHeader(file: mapping.bytes, path: path)
        metadata = header.metadata
        tensors = header.tensors
        dataStart = header.dataStart
        names = header.tensors.keys.sorted()
    }

    package static func open(_ path: String) throws(FormatError) -> SafetensorsFile { try SafetensorsFile(path: path) }

    package func info(_ name: String) throws(FormatError) -> SafetensorsTensorInfo {
        guard let tensor = tensors[name] else { throw FormatError(file: path, entry: name, "no such tensor in this file") }
        return tensor
    }

    package func file(containing name: String) -> String { path }

    package func rawBytes(_ name: String) throws(FormatError) -> UnsafeRawBufferPointer {
        let range = try info(name).dataOffsets
        // Offsets were checked against the file size when the header was read.
        return UnsafeRawBufferPointer(rebasing: mapping.bytes[(dataStart + range.lowerBound)..<(dataStart + range.upperBound)])
    }
}
