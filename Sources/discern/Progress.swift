import DataImport
import Foundation

/// Progress on stderr, for every command that reports it: one line redrawn in place on a terminal
/// (at most ten times a second), otherwise one line each time another tenth is done, so logs stay
/// short. Callers say what the line holds.
final class ProgressReporter {
    private let isTerminal = isatty(STDERR_FILENO) != 0
    let start = Date()
    private var lastDraw = Date.distantPast
    private var nextTenth: Int
    private var lastLine = ""

    /// `logsStart`: in a log, also print the first update, before a tenth is done.
    init(logsStart: Bool = false) { nextTenth = logsStart ? 0 : 1 }

    var elapsed: Double { Date().timeIntervalSince(start) }

    /// `line` is built only when it is shown.
    func update(fraction: Double, _ line: () -> String) {
        if isTerminal {
            guard Date().timeIntervalSince(lastDraw) >= 0.1 || fraction >= 1 else { return }
            lastDraw = Date()
            lastLine = line()
            write("\r\u{1B}[K" + lastLine)
        } else if Int(fraction * 10) >= nextTenth {
            nextTenth = Int(fraction * 10) + 1
            write(line() + "\n")
        }
    }

    /// Prints a message on its own line without garbling the redrawn one.
    func message(_ text: String) {
        write(isTerminal ? "\r\u{1B}[K" + text + "\n" + lastLine : text + "\n")
    }

    /// The `onProgress` of an import: redraws `importProgressLine` counting `unit` per second.
    func importProgress(unit: String) -> (ImportProgress) -> Void {
        { progress in self.update(fraction: progress.fraction) { importProgressLine(progress, elapsed: self.elapsed, unit: unit) } }
    }

    func finish() {
        if isTerminal && !lastLine.isEmpty { write("\n") }
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// `discern prepare`'s line: a bar, the counts, the rate and the time left.
func importProgressLine(_ progress: ImportProgress, elapsed: Double, unit: String) -> String {
    // Rate and ETA from this run's work only: what an earlier run finished took no time now.
    let done = progress.imported + progress.skipped - progress.restoredItems
    let rate = elapsed > 0 ? Double(done) / elapsed : 0
    let fraction = progress.fraction, doneNow = fraction - progress.restoredFraction
    let width = 30, filled = Int(fraction * Double(width))
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    let eta = doneNow > 0.001 ? ProgressReporter.duration(elapsed * (1 - fraction) / doneNow) : "?"
    return "[\(bar)] " + String(format: "%5.1f%%", fraction * 100)
        + "  \(progress.imported) imported, \(progress.skipped) skipped  "
        + String(format: "%.1f", rate) + " \(unit)/s  ETA \(eta)"
}

/// `discern embed`'s line: items done of all, the rate and the time left (shown for 32 items or more).
final class CountProgress {
    let total: Int, label: String
    let reporter = ProgressReporter(logsStart: true)

    init(total: Int, label: String) { (self.total, self.label) = (total, label) }

    func update(_ done: Int) {
        guard total >= 32 else { return }
        reporter.update(fraction: Double(done) / Double(total)) {
            let rate = Double(done) / max(reporter.elapsed, 1e-9), eta = Double(total - done) / max(rate, 1e-9)
            return String(format: "%@ %d/%d (%.0f%%)  %.1f/s  ETA %.0fs", label, done, total, 100 * Double(done) / Double(total), rate, eta)
        }
    }

    func finish() { reporter.finish() }
}
