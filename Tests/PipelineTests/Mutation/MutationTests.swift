import Foundation
import TestSupport
import XCTest

/// Drives the real `discern` commands over mutated copies of valid inputs (MutationTable) and
/// fails on a death by signal, a run past its time bound, an exit 0 on an input that is invalid
/// by construction, a refusal without a message or a refusal that leaves output behind.
/// Pending rows are skipped unless DISCERN_MUTATION_ALL=1 (then they run and are reported, and
/// only the active rows can fail the test). DISCERN_MUTATION_FILTER=TEXT runs the rows whose
/// name contains TEXT.
final class MutationTests: XCTestCase {
    /// A tiny-model command takes a few seconds; a hang is anything far beyond.
    static let timeBound: TimeInterval = 60

    enum Outcome: String {
        case passed = "passed", cleanError = "clean error", crash = "CRASH (signal)", hang = "HANG (timeout)"
        case silentAccept = "SILENT ACCEPT (exit 0)", failedControl = "CONTROL FAILED", noMessage = "no message"
        case unclearMessage = "message lacks the key", leftOutput = "left output behind", mutationFailed = "mutation failed"

        /// A clean refusal (a clear error, non-zero exit, nothing left behind), or a control that ran.
        var isGood: Bool { self == .passed || self == .cleanError }
    }

    func testMutatedInputsAreRefusedCleanly() throws {
        let environment = ProcessInfo.processInfo.environment
        let runAll = environment["DISCERN_MUTATION_ALL"] == "1", filter = environment["DISCERN_MUTATION_FILTER"]
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-mutation-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let discern = try locateDiscern()
        let fixture = try MutationFixture.make(in: folder.appendingPathComponent("fixture"), discern: discern)

        var report: [(MutationCase, Outcome, ChildResult?)] = []
        for (index, row) in MutationTable.all.enumerated() {
            if let filter, !row.name.contains(filter) { continue }
            if row.pending != nil && !runAll { continue }
            let inputs = try fixture.copy(to: folder.appendingPathComponent("case-\(index)"))
            let (outcome, result) = try run(row, inputs, discern)
            report.append((row, outcome, result))
            try? FileManager.default.removeItem(at: inputs.root.deletingLastPathComponent())
            if !outcome.isGood && row.pending == nil {
                XCTFail("\(row.name) [\(row.command.rawValue)]: \(outcome.rawValue)\n\(result?.transcript.suffix(3000) ?? "")")
            }
        }
        print(summary(report, skipped: MutationTable.all.count - report.count))
        XCTAssertFalse(report.isEmpty, "no mutation case ran (DISCERN_MUTATION_FILTER=\(filter ?? "") matches none)")
    }

    func run(_ row: MutationCase, _ inputs: MutationInputs, _ discern: URL) throws -> (Outcome, ChildResult?) {
        do { try row.mutate(inputs) } catch {
            XCTFail("\(row.name): applying the mutation failed: \(error)")
            return (.mutationFailed, nil)
        }
        // The case's folder is both the working directory and HOME: a mutated path must not write
        // into the checkout or the user's home.
        var environment = childEnvironment
        environment["HOME"] = inputs.root.path
        let result = try runChild(discern, row.command.arguments(inputs), environment: environment, timeout: Self.timeBound,
                                  workingDirectory: inputs.root)
        return (classify(result, row, inputs), result)
    }

    func classify(_ result: ChildResult, _ row: MutationCase, _ inputs: MutationInputs) -> Outcome {
        if result.timedOut { return .hang }  // first: the timeout's kill is a signal too
        if result.signal != nil { return .crash }
        switch row.expect {
        case .success:
            return result.status == 0 ? .passed : .failedControl
        case .refused(let mentioning):
            if result.status == 0 { return .silentAccept }
            let message = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            if message.isEmpty { return .noMessage }
            if let mentioning, !message.contains(mentioning) { return .unclearMessage }
            if let output = row.command.output(inputs), FileManager.default.fileExists(atPath: output.path) { return .leftOutput }
            return .cleanError
        }
    }

    /// For a crash, the runtime's message and the first frame in Sources/ (from the Swift
    /// backtrace), to route it; otherwise the first line of stderr.
    func evidence(_ result: ChildResult) -> String {
        let lines = result.standardError.split(separator: "\n")
        let message = lines.first { $0.contains("Fatal error") || $0.contains("runtime failure") || $0.contains("Crash") }
        let frame = lines.first { $0.contains("/Sources/") && !$0.contains("/Sources/discern/main.swift") }
        if result.signal != nil {
            let place = frame.flatMap { $0.range(of: "/Sources/").map { String(frame![$0.lowerBound...]) } } ?? "no frame in Sources/"
            return "signal \(result.signal!): \(message.map(String.init) ?? "no message") at \(place)"
        }
        return "stderr: " + (lines.first { !$0.isEmpty }.map(String.init) ?? "(empty)")
    }

    /// The table of what ran, then the counts per outcome (docs/robustness.md reports them).
    func summary(_ report: [(MutationCase, Outcome, ChildResult?)], skipped: Int) -> String {
        var lines = ["mutation cases:"]
        for (row, outcome, result) in report {
            let seconds = result.map { String(format: "%5.1f s", $0.seconds) } ?? "      "
            let flag = row.pending.map { "  [pending: \($0)]" } ?? ""
            lines.append("  \(outcome.rawValue.padding(toLength: 24, withPad: " ", startingAt: 0)) \(seconds)  "
                         + "\(row.command.rawValue.padding(toLength: 19, withPad: " ", startingAt: 0)) \(row.name)\(flag)")
            if !outcome.isGood, let result { lines.append("      \(evidence(result).prefix(300))") }
        }
        let mutated = report.filter { if case .refused = $0.0.expect { return true } else { return false } }
        func count(_ outcome: Outcome) -> Int { mutated.filter { $0.1 == outcome }.count }
        let unclear = count(.noMessage) + count(.unclearMessage) + count(.leftOutput)
        lines.append("mutated cases \(mutated.count): clean errors \(count(.cleanError)), crashes \(count(.crash)), "
                     + "hangs \(count(.hang)), silent accepts \(count(.silentAccept)), other refusals \(unclear); "
                     + "controls \(report.count - mutated.count); skipped \(skipped)")
        return lines.joined(separator: "\n")
    }
}
