import Foundation
import Platform

// Every command but `doctor` (which reports it in full) and `--version` warns once at start-up
// when OpenBLAS runs generic kernels. Under mpirun only the first rank speaks.
let arguments = CommandLine.arguments.dropFirst()
let rank = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"] ?? ProcessInfo.processInfo.environment["PMI_RANK"] ?? "0"
if arguments.first != "doctor", arguments.first != "--version", !arguments.contains("--help"), !arguments.contains("-h"), rank == "0",
   let warning = blasTrapWarning() {
    FileHandle.standardError.write(Data((warning + "\n").utf8))
}

Discern.main()
