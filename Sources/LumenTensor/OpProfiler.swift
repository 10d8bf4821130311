import Foundation

/// Wall-clock totals per kernel call, for finding where a model's time goes.
///
/// Off unless `LUMEN_PROFILE=1`; then every instrumented kernel (`NN` layers and the element-wise
/// `Tensor` operations) adds its time under a label that names the operation and its shape class
/// (for example `conv3x3 winograd 64→64 @256×256`), and `lumen bench` prints the table on stderr.
/// Like `torch.profiler`'s operator table, times are inclusive and measured on the calling
/// thread, so a kernel's own parallel work is counted once. When off, the cost is one load and a
/// branch per call.
public enum OpProfiler {
    public static let enabled: Bool = getenvString("LUMEN_PROFILE") == "1"

    private static let lock = NSLock()
    nonisolated(unsafe) private static var totals: [String: (seconds: Double, calls: Int)] = [:]

    /// Runs `body`, adding its duration under `label()` when profiling is on.
    @inline(__always)
    public static func measure<T>(_ label: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let result = try body()
        record(label(), seconds: Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        return result
    }

    static func record(_ label: String, seconds: Double) {
        lock.lock()
        defer { lock.unlock() }
        let old = totals[label] ?? (0, 0)
        totals[label] = (old.seconds + seconds, old.calls + 1)
    }

    /// Forgets everything measured so far (for example the warm-up run).
    public static func reset() {
        lock.lock()
        totals = [:]
        lock.unlock()
    }

    /// The table, most expensive label first: seconds, share of the measured total, calls.
    public static func report(limit: Int = 60) -> String {
        lock.lock()
        let rows = totals.sorted { $0.value.seconds > $1.value.seconds }
        lock.unlock()
        let sum = rows.reduce(0) { $0 + $1.value.seconds }
        var lines = [String(format: "%10@ %6@ %6@  %@", "seconds", "share", "calls", "operation")]
        for (label, v) in rows.prefix(limit) {
            lines.append(String(format: "%10.4f %5.1f%% %6d  %@", v.seconds, 100 * v.seconds / Swift.max(sum, 1e-12), v.calls, label))
        }
        lines.append(String(format: "%10.4f  total of %d labels", sum, rows.count))
        return lines.joined(separator: "\n")
    }
}
