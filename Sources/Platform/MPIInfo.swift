import CMPI
import Foundation

/// The linked MPI library's own version line (callable before MPI_Init).
public func mpiLibraryVersion() -> String {
    var length: Int32 = 0
    var text = [CChar](repeating: 0, count: Int(discern_mpi_max_library_version_string()) + 1)
    guard MPI_Get_library_version(&text, &length) == discern_mpi_success() else { return "unknown" }
    let bytes = text.prefix(Int(length)).map { UInt8(bitPattern: $0) }
    let firstLine = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first ?? "unknown"
    return firstLine.trimmingCharacters(in: .whitespaces)
}
