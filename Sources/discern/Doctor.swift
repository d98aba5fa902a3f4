import ArgumentParser
import Platform

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report MPI, BLAS, HDF5 and CPU facts, measure sgemm speed, and flag slow set-ups.")

    func run() throws {
        let blas = BLASInfo()
        print("OpenBLAS core: \(blas.coreName), threads: \(blas.threads)")
        if let warning = blasTrapWarning(blas: blas) { print(warning) }
    }
}
