import Foundation
import LumenService

/// Where a job is in its life.
public enum JobStatus: String, Codable, Sendable {
    case queued, running, succeeded, failed, cancelled

    public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// One accepted generation request: everything needed to run it again after a restart.
public struct JobRecord: Codable, Sendable, Equatable {
    public var id: String
    /// Who asked (the API's `user`, the API key's name, or "anonymous"): the unit of fairness.
    public var user: String
    public var status: JobStatus
    public var settings: GenerationSettings
    public var outputFormat: ImageFormat
    /// JPEG/WebP quality 1–100.
    public var compression: Int
    /// Leave the model's name out of the pictures' metadata (arena battles before the vote).
    public var hideModel: Bool
    /// Draw the visible "AI-generated" corner badge.
    public var visibleMark: Bool
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    public var error: String?

    public init(id: String = JobRecord.newID(), user: String, settings: GenerationSettings, outputFormat: ImageFormat = .png,
                compression: Int = 90, hideModel: Bool = false, visibleMark: Bool = false, createdAt: Double = Date().timeIntervalSince1970) {
        self.id = id; self.user = user; self.status = .queued; self.settings = settings
        self.outputFormat = outputFormat; self.compression = compression; self.hideModel = hideModel; self.visibleMark = visibleMark
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, user, status, settings, outputFormat = "output_format", compression, hideModel = "hide_model", visibleMark = "visible_mark"
        case createdAt = "created_at", startedAt = "started_at", finishedAt = "finished_at", error
    }

    /// A random, unguessable id ("job_" + 32 hex digits).
    public static func newID() -> String { "job_" + randomHex() }
}

/// One stored picture.
public struct ImageRecord: Codable, Sendable, Equatable {
    /// Random, unguessable; also the file name stem, so URLs reveal nothing (the arena relies on it).
    public var id: String
    public var jobID: String
    public var index: Int
    public var format: ImageFormat
    public var width: Int
    public var height: Int
    public var bytes: Int
    public var createdAt: Double
    /// The prompt as typed, for search.
    public var prompt: String
    public var model: String
    public var settings: GenerationSettings
    /// The XMP instance id and the watermark's picture id.
    public var instanceID: String
    public var watermarkID: Int64?

    enum CodingKeys: String, CodingKey {
        case id, jobID = "job_id", index = "idx", format, width, height, bytes, createdAt = "created_at", prompt, model, settings
        case instanceID = "instance_id", watermarkID = "watermark_id"
    }

    public init(id: String, jobID: String, index: Int, format: ImageFormat, width: Int, height: Int, bytes: Int, createdAt: Double,
                prompt: String, model: String, settings: GenerationSettings, instanceID: String, watermarkID: Int64?) {
        self.id = id; self.jobID = jobID; self.index = index; self.format = format; self.width = width; self.height = height
        self.bytes = bytes; self.createdAt = createdAt; self.prompt = prompt; self.model = model; self.settings = settings
        self.instanceID = instanceID; self.watermarkID = watermarkID
    }

    public var fileName: String { "\(id).\(format.fileExtension)" }

    public static func newID() -> String { "img_" + randomHex() }
}

func randomHex() -> String {
    var g = SystemRandomNumberGenerator()
    return (0..<2).map { _ in String(format: "%016llx", g.next() as UInt64) }.joined()
}
