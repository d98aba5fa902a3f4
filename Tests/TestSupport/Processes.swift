import Foundation

/// Alive and not a zombie (an orphan's zombie may wait for a reaper that never comes, as in
/// containers whose process 1 does not reap).
package func isRunning(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return true }
    return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
}

/// Processes whose command line contains every one of `words` and none of `excluding`, from /proc.
package func processes(mentioning words: [String], excluding: [String] = []) -> [Int32] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
        guard let pid = Int32(entry), let bytes = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
        let commandLine = String(decoding: bytes.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        let wanted = words.allSatisfy(commandLine.contains) && !excluding.contains(where: commandLine.contains)
        return wanted ? pid : nil
    }
}

/// A started process whose standard output and error both go to `log` (a file, so ranks that
/// outlive the process cannot block on a pipe). Close the handle after it ends.
package func startLogged(_ executable: URL, _ arguments: [String], log: URL) throws -> (process: Process, handle: FileHandle) {
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let handle = try FileHandle(forWritingTo: log)
    let process = makeProcess(executable, arguments, environment: childEnvironment, output: handle, errors: handle)
    try process.run()
    return (process, handle)
}

/// The step lines of a run's metrics.jsonl: every line but the start lines (`{"build":...`,
/// one per start of the run, keys sorted), which name the binary.
package func metricsStepLines(_ text: String) -> [Substring] {
    text.split(separator: "\n").filter { !$0.hasPrefix("{\"build\"") }
}

/// Waits until the metrics.jsonl `file` has at least `steps` step lines, at most `seconds`, or
/// until `process` ends.
package func waitForMetricsSteps(_ file: URL, _ steps: Int, seconds: TimeInterval, while process: Process) {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline, process.isRunning {
        if let text = try? String(contentsOf: file, encoding: .utf8), metricsStepLines(text).count >= steps { return }
        Thread.sleep(forTimeInterval: 0.2)
    }
}
