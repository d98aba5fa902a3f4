import Foundation
import TestSupport
import XCTest

/// The project's one-node Slurm test cluster (`launch/slurm-local`: munged, slurmctld and slurmd
/// with every file in `folder`), started for one test and torn down after it.
final class SlurmCluster {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../..").standardized
    static let tools = ["munged", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "scancel"]
    let folder: URL
    let environment: [String: String]

    /// Skips where the daemons cannot start (not root, or a daemon refuses); fails where Slurm is
    /// not installed, since ./launch/test installs it.
    init(folder: URL) throws {
        guard getuid() == 0 else {
            throw XCTSkip("the Slurm test starts munged, slurmctld and slurmd, which needs root; it is skipped")
        }
        for tool in Self.tools where Self.locate(tool) == nil {
            throw SetupError(description: "\(tool) is missing: ./launch/test installs Debian's slurm-wlm and munge (apt-get install -y slurm-wlm munge)")
        }
        self.folder = folder
        var environment = childEnvironment
        environment["SLURM_CONF"] = folder.appendingPathComponent("slurm.conf").path
        environment["PATH"] = (environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        self.environment = environment
        let started = try runChild(Self.repository.appendingPathComponent("launch/slurm-local"), ["up", folder.path],
                                   environment: environment, timeout: 90)
        guard started.status == 0 else {
            down()
            throw XCTSkip("the one-node Slurm cluster did not start, so the Slurm test is skipped:\n\(started.transcript)")
        }
    }

    static func locate(_ tool: String) -> URL? {
        findOnPath(tool) ?? ["/usr/sbin", "/sbin"].map { URL(fileURLWithPath: $0).appendingPathComponent(tool) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// A Slurm command's output; fails the test when it fails.
    @discardableResult
    func run(_ tool: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        guard let executable = Self.locate(tool) else { throw SetupError(description: "\(tool) is missing") }
        let result = try runChild(executable, arguments, environment: environment, timeout: 30, workingDirectory: Self.repository)
        XCTAssertEqual(result.status, 0, "\(tool) \(arguments.joined(separator: " ")): \(result.transcript)", file: file, line: line)
        return result.standardOutput
    }

    /// Submits a job and returns its id.
    func submit(_ arguments: [String], environment extra: [String: String] = [:]) throws -> String {
        var environment = self.environment
        for (key, value) in extra { environment[key] = value }
        let result = try runChild(Self.locate("sbatch")!, ["--parsable"] + arguments, environment: environment, timeout: 30,
                                  workingDirectory: Self.repository)
        guard result.status == 0, let id = result.standardOutput.split(separator: ";").first?.trimmingCharacters(in: .whitespacesAndNewlines),
              !id.isEmpty else {
            throw SetupError(description: "sbatch \(arguments.joined(separator: " ")) failed: \(result.transcript)")
        }
        return id
    }

    /// The job's fields from `scontrol show job -o` (JobState, Restarts, RunTime, ...).
    func job(_ id: String) throws -> [String: String] {
        let text = try run("scontrol", ["show", "job", "-o", id])
        var fields: [String: String] = [:]
        for token in text.split(whereSeparator: \.isWhitespace) {
            guard let equals = token.firstIndex(of: "=") else { continue }
            fields[String(token[..<equals])] = String(token[token.index(after: equals)...])
        }
        return fields
    }

    /// Waits until `condition` holds, at most `seconds`; false if it never did.
    func wait(seconds: TimeInterval, until condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.5)
        }
        return try condition()
    }

    func waitForState(_ id: String, _ state: String, seconds: TimeInterval) throws -> Bool {
        try wait(seconds: seconds) { try job(id)["JobState"] == state }
    }

    /// Cancels whatever still runs, waits for it to end, then stops the daemons. A job step's
    /// slurmstepd outlives slurmd, so the jobs go first.
    func down() {
        let environment = self.environment
        func quiet(_ tool: String, _ arguments: [String]) -> String {
            guard let executable = Self.locate(tool) else { return "" }
            return (try? runChild(executable, arguments, environment: environment, timeout: 30).standardOutput) ?? ""
        }
        let jobs = quiet("squeue", ["-h", "-o", "%i"]).split(separator: "\n").map(String.init)
        if !jobs.isEmpty { _ = quiet("scancel", jobs) }
        let deadline = Date().addingTimeInterval(45)
        while Date() < deadline, !quiet("squeue", ["-h", "-o", "%i"]).isEmpty { Thread.sleep(forTimeInterval: 0.5) }
        _ = try? runChild(Self.repository.appendingPathComponent("launch/slurm-local"), ["down", folder.path],
                          environment: environment, timeout: 60)
    }
}
