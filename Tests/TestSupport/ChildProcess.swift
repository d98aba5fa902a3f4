import Communication
import Foundation

/// What a finished (or killed) child process left behind.
package struct ChildResult {
    package let status: Int32
    package let standardOutput: String
    package let standardError: String
    package let timedOut: Bool
    package let seconds: Double
    /// The signal that ended the process (status is then that signal's number), nil for an exit.
    package var signal: Int32? = nil

    /// Everything, for failure messages.
    package var transcript: String {
        "exit status \(status) after \(String(format: "%.1f", seconds)) s\(timedOut ? " (KILLED: timed out)" : "")\n"
            + "--- stdout ---\n\(standardOutput)--- stderr ---\n\(standardError)"
    }
}

/// Runs a program with a hard timeout. Output goes to files, not pipes, so a rank that
/// outlives mpirun cannot keep a pipe open and block the test.
///
/// On timeout: Open MPI starts every rank in its own process group, so killing mpirun's group
/// is not enough. The whole process tree is noted first, mpirun gets SIGTERM (on which it
/// kills its ranks itself), and after a grace period everything noted gets SIGKILL.
package func runChild(_ executable: URL, _ arguments: [String], environment: [String: String],
              timeout: TimeInterval, workingDirectory: URL? = nil) throws -> ChildResult {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-child-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let outURL = folder.appendingPathComponent("stdout"), errURL = folder.appendingPathComponent("stderr")
    try Data().write(to: outURL)
    try Data().write(to: errURL)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)

    let process = makeProcess(executable, arguments, environment: environment, output: out, errors: err)
    if let workingDirectory { process.currentDirectoryURL = workingDirectory }
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    let start = Date()
    try process.run()
    var timedOut = false
    if finished.wait(timeout: .now() + timeout) == .timedOut {
        timedOut = true
        let tree = descendants(of: process.processIdentifier)
        kill(process.processIdentifier, SIGTERM)
        if finished.wait(timeout: .now() + 3) == .timedOut {
            kill(-process.processIdentifier, SIGKILL)
            kill(process.processIdentifier, SIGKILL)
            _ = finished.wait(timeout: .now() + 10)
        }
        for pid in tree { kill(pid, SIGKILL) }   // ranks orphaned by a dead mpirun
    }
    try out.close()
    try err.close()
    return ChildResult(
        status: process.isRunning ? -1 : process.terminationStatus,
        standardOutput: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
        standardError: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "",
        timedOut: timedOut, seconds: Date().timeIntervalSince(start),
        signal: !process.isRunning && process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil)
}

/// A process, not yet started, writing to the given files.
func makeProcess(_ executable: URL, _ arguments: [String], environment: [String: String],
                 output: FileHandle, errors: FileHandle) -> Process {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = environment
    process.standardOutput = output
    process.standardError = errors
    return process
}

/// Every process below `root`, from /proc (empty where there is no /proc).
private func descendants(of root: Int32) -> [Int32] {
    var children: [Int32: [Int32]] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(entry),
              let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        // Fields after "pid (name)": state, ppid, ...
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 1, let parent = Int32(fields[1]) { children[parent, default: []].append(pid) }
    }
    var result: [Int32] = [], queue = [root]
    while let next = queue.popLast() {
        for child in children[next] ?? [] {
            result.append(child)
            queue.append(child)
        }
    }
    return result
}

/// The first executable called `name` on PATH.
package func findOnPath(_ name: String) -> URL? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }
}

/// The test worker executable, built by SwiftPM into the same products directory as the test
/// bundle (`.build/<triple>/debug` or `/release`). That directory is found from the running
/// test binary: on Linux the .xctest file IS the running executable (/proc/self/exe,
/// CommandLine.arguments[0]); on macOS the .xctest bundle sits in the products directory.
/// DISCERN_TEST_WORKER overrides the search.
package func locateWorker() throws -> URL {
    try locateProduct("discern-test-worker", override: "DISCERN_TEST_WORKER")
}

/// The `discern` executable of the same build as the tests.
package func locateDiscern() throws -> URL {
    try locateProduct("discern", override: "DISCERN_BINARY")
}

/// An executable product of this package, from the products directory of the running tests.
package func locateProduct(_ name: String, override: String) throws -> URL {
    if let path = ProcessInfo.processInfo.environment[override] {
        return URL(fileURLWithPath: path)
    }
    var folders: [URL] = []
    if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        folders.append(URL(fileURLWithPath: executable).deletingLastPathComponent())
    }
    folders.append(URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent())
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        folders.append(bundle.bundleURL.deletingLastPathComponent())
    }
    var seen = Set<String>()
    folders = folders.filter { seen.insert($0.path).inserted }
    for folder in folders {
        let candidate = folder.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    let searched = folders.map(\.path).joined(separator: ", ")
    throw SetupError(description: "\(name) not found in \(searched). Build it with `swift build --build-tests` "
        + "(add `-c release` for release tests), or set \(override) to its path.")
}

/// A missing tool or binary: thrown from a test, it FAILS the test (nothing is skipped).
package struct SetupError: Error, CustomStringConvertible {
    package let description: String
    package init(description: String) { self.description = description }
}

/// Starts `mpirun -np ranks EXECUTABLE ARGUMENTS...` with the flags this machine needs (root,
/// more ranks than cores, shared-memory transport) and a hard timeout.
package func runMPIJob(ranks: Int, executable: URL, arguments: [String], timeout: TimeInterval = 60,
                      environment extra: [String: String] = [:]) throws -> ChildResult {
    var environment = childEnvironment
    for (key, value) in extra { environment[key] = value }
    return try runChild(try locateMPIRun(), mpirunFlags + extra.keys.sorted().flatMap { ["-x", $0] } + ["-np", "\(ranks)", executable.path] + arguments,
                        environment: environment, timeout: timeout)
}

/// As root mpirun refuses to start without --allow-run-as-root; 3 ranks on 2 cores need
/// --oversubscribe; ob1 + self,vader (shared memory) skip slow network probing.
package let mpirunFlags = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
                          "--mca", "pml", "ob1", "--mca", "btl", "self,vader", "-x", "OPENBLAS_NUM_THREADS=1"]

package func locateMPIRun() throws -> URL {
    guard let mpirun = findOnPath("mpirun") else {
        throw SetupError(description: "mpirun is not on PATH. Run ./launch/test, which installs Open MPI "
            + "(apt-get install openmpi-bin libopenmpi-dev) and then runs the tests.")
    }
    return mpirun
}

/// mpirun's MPMD form, one rank per command: `mpirun FLAGS -np 1 COMMAND0 : -np 1 COMMAND1 ...`,
/// so each rank can be given its own program and arguments.
package func runMPMDJob(rankCommands: [[String]], timeout: TimeInterval = 60) throws -> ChildResult {
    let contexts = rankCommands.map { ["-np", "1"] + $0 }
    let joined = contexts.dropFirst().reduce(contexts[0]) { $0 + [":"] + $1 }
    return try runChild(try locateMPIRun(), mpirunFlags + joined, environment: childEnvironment, timeout: timeout)
}

/// This environment minus any launcher variables (so a test run inside an MPI job still starts
/// fresh jobs), with one BLAS thread per process so ranks do not fight over few cores.
package var childEnvironment: [String: String] {
    var environment = ProcessInfo.processInfo.environment
    for name in mpiLauncherVariables { environment[name] = nil }
    environment["OPENBLAS_NUM_THREADS"] = "1"
    return environment
}
