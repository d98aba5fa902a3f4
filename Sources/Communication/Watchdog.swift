import CMPI
import Foundation

/// The collectives the watchdog can name.
enum CollectiveOperation: UInt64 {
    case allReduce = 1, allGather, reduceScatter, broadcast, barrier, finalize

    static func named(_ code: UInt64) -> String {
        switch CollectiveOperation(rawValue: code) {
        case .allReduce: return "MPI_Allreduce"
        case .allGather: return "MPI_Allgather"
        case .reduceScatter: return "MPI_Reduce_scatter_block"
        case .broadcast: return "MPI_Bcast"
        case .barrier: return "MPI_Barrier"
        case .finalize: return "MPI_Finalize"
        case nil: return "a collective"
        }
    }
}

/// When this process entered the collective it is in (monotonic nanoseconds, 0 = none) and
/// which one. Written by the main thread around every MPI collective, read by the watchdog
/// thread. Two atomic words allocated once, so a training step stays allocation-free.
final class CollectiveProgress: @unchecked Sendable {
    static let shared = CollectiveProgress()
    private let words: UnsafeMutablePointer<UInt64>

    private init() {
        words = .allocate(capacity: 2)
        words.initialize(repeating: 0, count: 2)
    }

    @inline(__always) func enter(_ operation: CollectiveOperation) {
        discern_atomic_store_u64(words + 1, operation.rawValue)
        discern_atomic_store_u64(words, discern_monotonic_ns())
    }

    @inline(__always) func leave() { discern_atomic_store_u64(words, 0) }

    /// The current collective and how long it has run, nil outside collectives.
    func current(now: UInt64) -> (operation: String, nanoseconds: UInt64)? {
        let began = discern_atomic_load_u64(words)
        guard began != 0, now > began else { return nil }
        return (CollectiveOperation.named(discern_atomic_load_u64(words + 1)), now - began)
    }
}

/// Ends this rank when the job can no longer make progress: a collective that has waited
/// longer than the timeout (a rank or host is unreachable, or stuck), or a launcher that is
/// gone (mpirun's orted or srun's slurmstepd died, so nobody would ever stop this process).
///
/// It runs on its own thread, which may not call MPI (MPI_THREAD_FUNNELED), and MPI_Abort
/// over a dead link may itself hang; so it writes its message and `_exit`s. The launcher sees
/// a rank end non-zero and takes the others down; the others' watchdogs end them otherwise.
package enum Watchdog {
    /// The exit status of a rank the watchdog stops: EX_TEMPFAIL, "try again later".
    package static let exitCode: Int32 = 75
    nonisolated(unsafe) private static var started = false

    /// Starts the watchdog once per process, for MPI jobs only (a single process has no
    /// collectives to wait in and no launcher to lose). `timeout` is in seconds; 0 checks only
    /// the launcher. `resume` says how to continue, `setting` names where the timeout was set
    /// (train's defaults; `discern embed` passes its own). Call from the main thread.
    package static func start(for communicator: Communicator, timeout: Double, resume: String = "resume with --resume auto",
                              setting: String = "distributed.timeout") {
        guard communicator is MPICommunicator, !started else { return }
        started = true
        let rank = communicator.rank, launcher = getppid()
        let limit = timeout > 0 ? UInt64(min(timeout, 1e9) * 1e9) : UInt64.max
        let thread = Thread {
            while true {
                usleep(200_000)
                if getppid() != launcher {
                    stop("rank \(rank): its launcher (process \(launcher): mpirun, orted or slurmstepd) is gone; stopping so the job "
                        + "can be requeued; \(resume)")
                }
                if let waiting = CollectiveProgress.shared.current(now: discern_monotonic_ns()), waiting.nanoseconds > limit {
                    stop("rank \(rank): no progress in \(waiting.operation) for \(Int(Double(waiting.nanoseconds) / 1e9)) s: a rank or host "
                        + "is unreachable; stopping so the job can be requeued; \(resume) "
                        + "(\(setting) is \(formatSeconds(timeout)) s)")
                }
            }
        }
        thread.name = "discern-watchdog"
        thread.start()
    }

    private static func stop(_ message: String) -> Never {
        signal(SIGPIPE, SIG_IGN)   // stderr may be a pipe to a launcher that is gone: still exit with our status
        let line = Array((message + "\n").utf8)
        line.withUnsafeBufferPointer { _ = write(2, $0.baseAddress, $0.count) }
        _exit(exitCode)
    }

    private static func formatSeconds(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
