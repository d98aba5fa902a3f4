import Communication
import Configuration
import Foundation

extension TrainingRun {
    /// `discern train` on this process, from MPI start to finalize, with progress on stdout and
    /// each rank's warnings on stderr. `resume`: nil, "auto" or a checkpoint path (`~` expanded).
    /// Returns the exit status: 0 when the run finished or stopped at `stopAt`; 75 (EX_TEMPFAIL,
    /// as for a lost host: "checkpoint written, resume me") when `stopSignal` stopped it, which
    /// launch/slurm.sbatch requeues on. An error on one rank ends the whole job (runOrAbort).
    package static func launch(config: ResolvedConfig, resume: String?, stopAt: Int?, stopSignal: @escaping () -> Bool) throws -> Int32 {
        let communicator = try makeCommunicator()
        let rank = communicator.rank
        let run = TrainingRun(config: config, communicator: communicator,
                              say: { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) },
                              warn: { line in FileHandle.standardError.write(Data(("rank \(rank): " + line + "\n").utf8)) })
        return runOrAbort(on: communicator) {
            let resume = try resume.map { $0 == "auto" ? $0 : try ConfigPaths.expand($0, key: "the checkpoint", at: "--resume") }
            try run.run(resume: resume, stopAt: stopAt, stopSignal: stopSignal)
            try communicator.finalize()
            return run.stoppedBySignal ? Watchdog.exitCode : 0
        }
    }
}
