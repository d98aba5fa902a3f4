import Foundation
import Communication

/// The linked MPI library's own version line (callable before MPI_Init).
package func mpiLibraryVersion() -> String {
    guard let version = try? MPICommunicator.libraryVersion else { return "unknown" }
    return version.split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
}
