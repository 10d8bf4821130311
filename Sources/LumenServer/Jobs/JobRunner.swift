import Foundation
import Logging
import LumenImageIO
import LumenPipelines
import LumenProvenance
import LumenService

/// Runs queued jobs: `concurrency` workers claim jobs from the store (fairly between users), run
/// the engine on a GCD thread (the engine blocks; Swift's cooperative pool must stay free for
/// the HTTP server), write each picture with its provenance marks, and record it. Progress and
/// previews go out through `JobEvents`. A restart puts interrupted jobs back in the queue first.
public final class JobRunner: Sendable {
    public let store: any JobStore
    public let catalog: ModelCatalog
    public let events: JobEvents
    let imagesDirectory: URL
    let concurrency: Int
    let signing: SigningIdentity
    let logger: Logger
    private let wake = WakeSignal()
    private let cancelled = LockedSet()
    private let durations = RunningAverage()

    public init(store: any JobStore, catalog: ModelCatalog, events: JobEvents, imagesDirectory: URL, concurrency: Int,
                signing: SigningIdentity, logger: Logger) {
        self.store = store; self.catalog = catalog; self.events = events; self.signing = signing
        self.imagesDirectory = imagesDirectory; self.concurrency = max(1, concurrency); self.logger = logger
    }

    /// Requeues interrupted jobs and runs the workers until the task is cancelled.
    public func run() async throws {
        try FileManager.default.createDirectory(at: imagesDirectory, withIntermediateDirectories: true)
        let requeued = try await store.requeueInterrupted()
        if requeued > 0 { logger.info("requeued \(requeued) interrupted job(s)") }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency { group.addTask { await self.workerLoop() } }
        }
    }

    /// Adds a job to the queue (throws `StoreError.queueFull`) and wakes a worker; returns its position.
    public func submit(_ job: JobRecord, maxQueued: Int) async throws -> Int {
        let position = try await store.enqueue(job, maxQueued: maxQueued)
        wake.signal()
        return position
    }

    /// Cancels a queued or running job. Returns the job as it was, nil when unknown.
    public func cancel(_ jobID: String) async throws -> JobRecord? {
        guard let job = try await store.cancel(jobID: jobID) else { return nil }
        if job.status == .running { cancelled.insert(jobID) }
        if job.status == .queued { events.publish(jobID, .cancelled) }
        return job
    }

    /// Seconds a client should wait before retrying when the queue is full.
    public func retryAfterSeconds(queued: Int) -> Int {
        max(1, Int((Double(queued) * durations.value / Double(concurrency)).rounded(.up)))
    }

    private func workerLoop() async {
        while !Task.isCancelled {
            do {
                if let job = try await store.claimNext() {
                    await execute(job)
                } else {
                    await wake.wait(timeout: .seconds(1))
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("job queue: \(error)")
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func execute(_ job: JobRecord) async {
        events.publish(job.id, .started)
        let start = Date()
        do {
            let records = try await offExecutor { try self.generateAndWrite(job) }
            // A job cancelled while its pictures were being written keeps its cancelled state.
            if cancelled.remove(job.id) {
                throw PipelineError.cancelled
            }
            try await store.complete(jobID: job.id, images: records)
            durations.add(Date().timeIntervalSince(start))
            events.publish(job.id, .succeeded(records))
        } catch PipelineError.cancelled {
            _ = cancelled.remove(job.id)
            events.publish(job.id, .cancelled)
        } catch {
            _ = cancelled.remove(job.id)
            let message = "\(error)"
            logger.warning("job \(job.id) failed: \(message)")
            try? await store.fail(jobID: job.id, message: message)
            events.publish(job.id, .failed(message))
        }
    }

    /// Runs `body` on a GCD thread: the engine, the watermark, encoding and signing (which may
    /// wait on a time-stamp authority) all block, and Swift's cooperative pool must stay free for
    /// the HTTP server.
    private func offExecutor<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result { try body() })
            }
        }
    }

    /// Generates a job's pictures (reporting progress and previews), then marks, signs and writes each.
    private func generateAndWrite(_ job: JobRecord) throws -> [ImageRecord] {
        let pipeline = try catalog.pipeline(job.settings.model)
        let request = try job.settings.request()
        let images = try pipeline.generate(request) { p in
            if cancelled.contains(job.id) { return false }
            events.publish(job.id, .progress(stage: p.stage.rawValue, step: p.step, total: p.totalSteps))
            if p.stage == .denoising, let latents = p.latents, events.hasListeners(job.id),
               let first = LatentPreview.images(latents)?.first,
               let png = try? PNGEncoder.encode(width: first.width, height: first.height, pixels: first.pixels) {
                events.publish(job.id, .preview(step: p.step, total: p.totalSteps, png: png))
            }
            return true
        }
        let sampler = try catalog.resolve(job.settings.model).samplerName
        let parameters = job.settings.parametersText(
            samplerName: job.settings.scheduler ?? sampler, modelName: job.hideModel ? nil : job.settings.model)
        var records: [ImageRecord] = []
        for (i, generated) in images.enumerated() {
            let image = job.visibleMark ? VisibleMark.apply(to: generated) : generated
            let encoded = try PictureWriter.encode(
                image, format: job.outputFormat, parameters: parameters, quality: job.compression,
                signing: PictureWriter.Signing(identity: signing, model: job.hideModel ? nil : job.settings.model))
            let record = ImageRecord(
                id: ImageRecord.newID(), jobID: job.id, index: i, format: job.outputFormat, width: image.width, height: image.height,
                bytes: encoded.data.count, createdAt: Date().timeIntervalSince1970, prompt: job.settings.prompt,
                model: job.settings.model, settings: job.settings, instanceID: encoded.instanceID,
                watermarkID: encoded.watermarkID.map(Int64.init))
            try encoded.data.write(to: imagesDirectory.appendingPathComponent(record.fileName), options: .atomic)
            records.append(record)
        }
        return records
    }
}

/// Wakes sleeping workers when a job arrives.
final class WakeSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]

    func signal() {
        let all = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
        for w in all { w.resume() }
    }

    /// Returns on a signal or after `timeout`, whichever comes first.
    func wait(timeout: Duration) async {
        let key = UUID()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            lock.withLock { waiters[key] = c }
            Task {
                try? await Task.sleep(for: timeout)
                let w = self.lock.withLock { self.waiters.removeValue(forKey: key) }
                w?.resume()
            }
        }
    }
}

final class LockedSet: @unchecked Sendable {
    private let lock = NSLock()
    private var items = Set<String>()
    func insert(_ s: String) { lock.withLock { _ = items.insert(s) } }
    func contains(_ s: String) -> Bool { lock.withLock { items.contains(s) } }
    /// Removes `s`; true when it was there.
    func remove(_ s: String) -> Bool { lock.withLock { items.remove(s) != nil } }
}

/// Exponential moving average of job durations (seconds), for `Retry-After`.
final class RunningAverage: @unchecked Sendable {
    private let lock = NSLock()
    private var average = 2.0
    var value: Double { lock.withLock { average } }
    func add(_ v: Double) { lock.withLock { average = 0.8 * average + 0.2 * v } }
}
