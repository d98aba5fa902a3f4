import Communication
import Configuration
import Formats
import Foundation

extension Benchmark {
    /// `discern bench` on this process, from MPI start to finalize: every rank runs the step,
    /// rank 0 hands the report to `report` and, with `json`, writes it there too. An error on
    /// one rank ends the whole job (runOrAbort), so no rank waits in a collective forever.
    package static func launch(config: ResolvedConfig, configPath: String, steps: Int, threads: Int, json: String?,
                              say: (String) -> Void, report: (Report) -> Void) throws {
        let communicator = try makeCommunicator()
        let benchmark = try Benchmark(config: config, configPath: configPath, communicator: communicator)
        runOrAbort(on: communicator) {
            let result = try benchmark.run(steps: steps, threads: threads, say: say)
            if communicator.rank == 0 {
                report(result)
                if let json {
                    let url = URL(fileURLWithPath: json)
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try JSONOutput.encode(result, style: .document).write(to: url, options: .atomic)
                }
            }
            try communicator.finalize()
        }
    }
}
