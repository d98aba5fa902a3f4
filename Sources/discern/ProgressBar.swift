import Datasets
import Foundation

/// Import progress on stderr: a redrawn bar with rate and ETA on a terminal, otherwise one
/// line per 10% so logs stay short.
final class ProgressBar {
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var nextTenth = 1
    private var lastLine = ""

    func update(_ progress: ImportProgress) {
        let line = describe(progress)
        if isTerminal {
            guard Date().timeIntervalSince(lastDraw) >= 0.1 || progress.fraction >= 1 else { return }
            lastDraw = Date()
            lastLine = line
            write("\r\u{1B}[K" + line)
        } else if Int(progress.fraction * 10) >= nextTenth {
            nextTenth = Int(progress.fraction * 10) + 1
            write(line + "\n")
        }
    }

    /// Prints a message on its own line without garbling the bar.
    func message(_ text: String) {
        if isTerminal {
            write("\r\u{1B}[K" + text + "\n" + lastLine)
        } else {
            write(text + "\n")
        }
    }

    func finish() {
        if isTerminal && !lastLine.isEmpty { write("\n") }
    }

    private func describe(_ progress: ImportProgress) -> String {
        let elapsed = Date().timeIntervalSince(start)
        let done = progress.imported + progress.skipped
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let fraction = progress.fraction
        let width = 30, filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        var eta = "?"
        if fraction > 0.001 { eta = Self.duration(elapsed * (1 - fraction) / fraction) }
        return "[\(bar)] " + String(format: "%5.1f%%", fraction * 100)
            + "  \(progress.imported) imported, \(progress.skipped) skipped  "
            + String(format: "%.1f", rate) + " lines/s  ETA \(eta)"
    }

    private static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
