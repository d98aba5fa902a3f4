import ArgumentParser
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

// A command line error is the same on every rank: under mpirun only the first rank prints it
// (N copies written at once interleave mid-line); the others exit with the same status.
let command: ParsableCommand
do { command = try Discern.parseAsRoot() } catch {
    if rank != "0" { exit(Discern.exitCode(for: error).rawValue) }
    Discern.exit(withError: error)
}
do {
    var running = command
    try running.run()
} catch {
    Discern.exit(withError: error)
}
