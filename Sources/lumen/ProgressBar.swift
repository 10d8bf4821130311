import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A progress bar on standard error: redrawn in place on a terminal (at most 10 Hz),
/// one line per step otherwise, nothing when quiet.
final class ProgressBar {
    let quiet: Bool
    let interactive = isatty(2) != 0
    let start = Date()
    var lastDraw = Date.distantPast

    init(quiet: Bool) { self.quiet = quiet }

    func update(label: String, step: Int, total: Int) {
        guard !quiet else { return }
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(step) / elapsed : 0
        if interactive {
            let now = Date()
            guard step == total || now.timeIntervalSince(lastDraw) > 0.1 else { return }
            lastDraw = now
            let width = 24
            let filled = total > 0 ? width * step / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            let eta = rate > 0 ? Double(total - step) / rate : 0
            write("\r\u{1B}[2K\(label) \(step)/\(total) ▕\(bar)▏ \(String(format: "%.2f", rate)) it/s ETA \(Int(eta.rounded()))s")
        } else {
            write("\(label) \(step)/\(total) (\(String(format: "%.2f", elapsed))s)\n")
        }
    }

    func finish(_ message: String) {
        guard !quiet else { return }
        write((interactive ? "\r\u{1B}[2K" : "") + message + "\n")
    }

    private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}
