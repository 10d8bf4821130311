import Foundation

/// What a running job reports.
public enum JobEvent: Sendable {
    /// The job left the queue.
    case started
    case progress(stage: String, step: Int, total: Int)
    /// A cheap preview of picture `index` at denoising step `step` (PNG bytes).
    case preview(step: Int, total: Int, png: Data)
    case succeeded([ImageRecord])
    case failed(String)
    case cancelled

    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled: true
        default: false
        }
    }
}

/// Fan-out of job events to any number of listeners (API responses waiting for their pictures,
/// server-sent event streams). Publishing is synchronous and thread-safe, so the generation thread
/// reports in order; a terminal event ends every stream of that job.
public final class JobEvents: @unchecked Sendable {
    private let lock = NSLock()
    private var listeners: [String: [UUID: AsyncStream<JobEvent>.Continuation]] = [:]
    private var progress: [String: (step: Int, total: Int)] = [:]

    public init() {}

    /// A stream of the job's events from now on. Subscribe before enqueueing to miss nothing.
    public func subscribe(_ jobID: String) -> AsyncStream<JobEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: JobEvent.self, bufferingPolicy: .bufferingNewest(256))
        let key = UUID()
        lock.withLock { listeners[jobID, default: [:]][key] = continuation }
        continuation.onTermination = { [weak self] _ in
            self?.lock.withLock { _ = self?.listeners[jobID]?.removeValue(forKey: key) }
        }
        return stream
    }

    public func hasListeners(_ jobID: String) -> Bool { lock.withLock { !(listeners[jobID]?.isEmpty ?? true) } }

    public func publish(_ jobID: String, _ event: JobEvent) {
        let targets: [AsyncStream<JobEvent>.Continuation] = lock.withLock {
            if case let .progress(_, step, total) = event { progress[jobID] = (step, total) }
            if event.isTerminal {
                progress[jobID] = nil
                return Array((listeners.removeValue(forKey: jobID) ?? [:]).values)
            }
            return Array((listeners[jobID] ?? [:]).values)
        }
        for c in targets {
            c.yield(event)
            if event.isTerminal { c.finish() }
        }
    }

    /// The last reported step of a running job.
    public func currentProgress(_ jobID: String) -> (step: Int, total: Int)? { lock.withLock { progress[jobID] } }
}
