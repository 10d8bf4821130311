import Foundation

/// Storage failures a caller can act on.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    /// The queue holds `depth` jobs already.
    case queueFull(depth: Int)

    public var description: String {
        switch self {
        case let .queueFull(depth): "the queue is full (\(depth) jobs waiting)"
        }
    }
}

/// The job queue and picture history, behind one small interface so that the SQLite store used
/// by a single machine (`SQLiteJobStore`) can be replaced by a PostgreSQL one shared by several.
/// Every method is atomic: a claimed job is claimed by one worker only, a finished job and its
/// pictures are recorded together.
public protocol JobStore: Sendable {
    /// Adds a queued job unless `maxQueued` jobs are already waiting; returns its 1-based position.
    func enqueue(_ job: JobRecord, maxQueued: Int) async throws -> Int
    /// Marks the next job running and returns it. Fairness: the user served longest ago goes first
    /// (round-robin between users), then that user's oldest job.
    func claimNext() async throws -> JobRecord?
    /// Records a finished job with its pictures.
    func complete(jobID: String, images: [ImageRecord]) async throws
    func fail(jobID: String, message: String) async throws
    /// Cancels a queued or running job; returns the job as it was before, nil if unknown.
    func cancel(jobID: String) async throws -> JobRecord?
    func job(_ id: String) async throws -> JobRecord?
    /// How many queued jobs are ahead of this one, plus one (nil when not queued).
    func position(of jobID: String) async throws -> Int?
    func queuedCount() async throws -> Int
    /// Puts jobs left running by a crash back in the queue; returns how many.
    func requeueInterrupted() async throws -> Int
    func images(jobID: String) async throws -> [ImageRecord]
    func image(_ id: String) async throws -> ImageRecord?
    /// Newest first; `query` matches words of the prompt or the model; `before` pages by time.
    func searchImages(query: String?, limit: Int, before: Double?) async throws -> [ImageRecord]
}
