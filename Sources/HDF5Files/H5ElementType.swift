import CHDF5

/// The element types a dataset may hold. Reads must ask for exactly the stored type:
/// the wrapper never converts silently (float64 read as Float would lose precision).
package enum H5ElementType: String, Sendable, CustomStringConvertible {
    case float32, float64, int32, int64, uint8
    /// Variable-length UTF-8 strings (fixed-length string datasets are also read as this).
    case string

    package var description: String { rawValue }

    /// The in-memory HDF5 type for numeric elements (library-owned, never closed).
    var nativeTypeID: hid_t {
        switch self {
        case .float32: return discern_h5t_native_float()
        case .float64: return discern_h5t_native_double()
        case .int32: return discern_h5t_native_int32()
        case .int64: return discern_h5t_native_int64()
        case .uint8: return discern_h5t_native_uint8()
        case .string: preconditionFailure("strings have no fixed-size native type")
        }
    }

    /// The Swift type to read this element type with.
    var swiftTypeName: String {
        switch self {
        case .float32: return "Float"
        case .float64: return "Double"
        case .int32: return "Int32"
        case .int64: return "Int64"
        case .uint8: return "UInt8"
        case .string: return "String (readStrings)"
        }
    }
}

/// Swift number types that map one-to-one onto an HDF5 element type.
package protocol H5NumericElement: BitwiseCopyable, Sendable {
    static var h5ElementType: H5ElementType { get }
}

extension Float: H5NumericElement { package static var h5ElementType: H5ElementType { .float32 } }
extension Double: H5NumericElement { package static var h5ElementType: H5ElementType { .float64 } }
extension Int32: H5NumericElement { package static var h5ElementType: H5ElementType { .int32 } }
extension Int64: H5NumericElement { package static var h5ElementType: H5ElementType { .int64 } }
extension UInt8: H5NumericElement { package static var h5ElementType: H5ElementType { .uint8 } }

/// A dataset's values in row-major order together with its shape.
package struct H5Array<Element> {
    package var shape: [Int]
    package var values: [Element]

    package init(shape: [Int], values: [Element]) {
        precondition(shape.reduce(1, *) == values.count,
                     "H5Array: \(values.count) values do not fill shape \(shape)")
        self.shape = shape
        self.values = values
    }
}

extension H5Array: Sendable where Element: Sendable {}
extension H5Array: Equatable where Element: Equatable {}

/// How a dataset is stored on disk.
package enum H5Layout: Sendable, Equatable {
    /// One block; the default, fastest to write whole.
    case contiguous
    /// Stored in tiles of `chunkShape` (same rank as the data; entries larger than the data are
    /// clamped), optionally deflate-compressed with `deflateLevel` 0...9 after byte shuffling.
    /// Reading a row range touches only the chunks it overlaps.
    case chunked(chunkShape: [Int], deflateLevel: Int? = nil)
}

/// What a stored datatype is, as far as this wrapper is concerned.
enum StoredType {
    case element(H5ElementType)
    /// A fixed-length string type of this many bytes per element.
    case fixedString(bytes: Int)
    /// Integers or floats of another width, readable as attributes only (widened losslessly).
    case otherInteger(bytes: Int, signed: Bool)
    case otherFloat(bytes: Int)
    case unsupported(String)

    init(_ typeID: hid_t) {
        let size = H5Tget_size(typeID)
        let typeClass = H5Tget_class(typeID)
        if typeClass == H5T_FLOAT {
            switch size {
            case 4: self = .element(.float32)
            case 8: self = .element(.float64)
            default: self = .otherFloat(bytes: size)
            }
        } else if typeClass == H5T_INTEGER {
            let signed = H5Tget_sign(typeID) != H5T_SGN_NONE
            switch (size, signed) {
            case (4, true): self = .element(.int32)
            case (8, true): self = .element(.int64)
            case (1, false): self = .element(.uint8)
            default: self = .otherInteger(bytes: size, signed: signed)
            }
        } else if typeClass == H5T_STRING {
            self = H5Tis_variable_str(typeID) > 0 ? .element(.string) : .fixedString(bytes: size)
        } else {
            self = .unsupported(StoredType.className(typeClass) + " (\(size) bytes)")
        }
    }

    /// The element type a dataset of this stored type is read as, if any.
    var datasetElementType: H5ElementType? {
        switch self {
        case .element(let type): return type
        case .fixedString: return .string
        default: return nil
        }
    }

    var description: String {
        switch self {
        case .element(let type): return type.rawValue
        case .fixedString(let bytes): return "fixed-length string of \(bytes) bytes"
        case .otherInteger(let bytes, let signed): return "\(signed ? "int" : "uint")\(bytes * 8)"
        case .otherFloat(let bytes): return "float\(bytes * 8)"
        case .unsupported(let text): return text
        }
    }

    private static func className(_ typeClass: H5T_class_t) -> String {
        switch typeClass {
        case H5T_TIME: return "time"
        case H5T_BITFIELD: return "bitfield"
        case H5T_OPAQUE: return "opaque"
        case H5T_COMPOUND: return "compound"
        case H5T_REFERENCE: return "reference"
        case H5T_ENUM: return "enum"
        case H5T_VLEN: return "variable-length sequence"
        case H5T_ARRAY: return "array"
        default: return "unknown type class"
        }
    }
}
