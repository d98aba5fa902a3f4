/// The element types the collectives move. Each maps to one predefined MPI datatype, so
/// reductions (MPI_SUM, MPI_MAX) work on them; derived datatypes cannot be reduced.
package enum CommunicationDatatype: Sendable, Equatable {
    case float32, float64, int32, int64, uint8

    /// Bytes per element, to check that a conforming type has the layout its case promises.
    package var byteCount: Int {
        switch self {
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        case .uint8: return 1
        }
    }
}

/// A plain value type the communicators can send as raw bytes and reduce element-wise.
/// Conformances are provided for Float, Double, Int32, Int64 and UInt8; adding another type
/// needs a new `CommunicationDatatype` case and its MPI mapping.
package protocol CommunicationElement: BitwiseCopyable, Sendable {
    static var communicationDatatype: CommunicationDatatype { get }
}

extension Float: CommunicationElement {
    package static var communicationDatatype: CommunicationDatatype { .float32 }
}

extension Double: CommunicationElement {
    package static var communicationDatatype: CommunicationDatatype { .float64 }
}

extension Int32: CommunicationElement {
    package static var communicationDatatype: CommunicationDatatype { .int32 }
}

extension Int64: CommunicationElement {
    package static var communicationDatatype: CommunicationDatatype { .int64 }
}

extension UInt8: CommunicationElement {
    package static var communicationDatatype: CommunicationDatatype { .uint8 }
}
