import Foundation

/// What a finished (or killed) child process left behind.
struct ChildResult {
    let status: Int32
    let standardOutput: String
    let standardError: String
    let timedOut: Bool
    let seconds: Double

    /// Everything, for failure messages.
    var transcript: String {
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
func runChild(_ executable: URL, _ arguments: [String], environment: [String: String],
              timeout: TimeInterval) throws -> ChildResult {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-child-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let outURL = folder.appendingPathComponent("stdout"), errURL = folder.appendingPathComponent("stderr")
    try Data().write(to: outURL)
    try Data().write(to: errURL)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)

    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = environment
    process.standardOutput = out
    process.standardError = err
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
        timedOut: timedOut, seconds: Date().timeIntervalSince(start))
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
func findOnPath(_ name: String) -> URL? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }
}

/// The test worker executable, built by SwiftPM into the same products directory as the test
/// bundle (`.build/<triple>/debug` or `/release`). That directory is found from the running
/// test binary: on Linux the .xctest file IS the running executable (/proc/self/exe,
/// CommandLine.arguments[0]); on macOS the .xctest bundle sits in the products directory.
/// DISCERN_TEST_WORKER overrides the search.
func locateWorker() throws -> URL {
    let name = "discern-test-worker"
    if let override = ProcessInfo.processInfo.environment["DISCERN_TEST_WORKER"] {
        return URL(fileURLWithPath: override)
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
        + "(add `-c release` for release tests), or set DISCERN_TEST_WORKER to its path.")
}

/// A missing tool or binary: thrown from a test, it FAILS the test (nothing is skipped).
struct SetupError: Error, CustomStringConvertible {
    let description: String
}
