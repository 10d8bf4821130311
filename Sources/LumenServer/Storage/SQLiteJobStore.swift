import Foundation
import GRDB

extension JobRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "job"
}

extension ImageRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "image"
}

/// `JobStore` on SQLite through GRDB, in WAL mode (a `DatabasePool`: readers never wait for the
/// writer), in the server's data folder. Nested settings are stored as JSON text by GRDB's
/// Codable support.
public final class SQLiteJobStore: JobStore {
    let pool: DatabasePool

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-jobs-and-images") { db in
            try db.create(table: "job") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("id", .text).notNull().unique()
                t.column("user", .text).notNull()
                t.column("status", .text).notNull().indexed()
                t.column("settings", .text).notNull()
                t.column("output_format", .text).notNull()
                t.column("compression", .integer).notNull()
                t.column("hide_model", .boolean).notNull()
                t.column("created_at", .double).notNull()
                t.column("started_at", .double)
                t.column("finished_at", .double)
                t.column("error", .text)
            }
            try db.create(table: "image") { t in
                t.primaryKey("id", .text)
                t.column("job_id", .text).notNull().indexed().references("job", column: "id")
                t.column("idx", .integer).notNull()
                t.column("format", .text).notNull()
                t.column("width", .integer).notNull()
                t.column("height", .integer).notNull()
                t.column("bytes", .integer).notNull()
                t.column("created_at", .double).notNull().indexed()
                t.column("prompt", .text).notNull()
                t.column("model", .text).notNull()
                t.column("settings", .text).notNull()
                t.column("instance_id", .text).notNull()
                t.column("watermark_id", .integer)
            }
        }
        m.registerMigration("v2-visible-mark") { db in
            try db.alter(table: "job") { t in t.add(column: "visible_mark", .boolean).notNull().defaults(to: false) }
        }
        SQLiteArenaStore.migrate(&m)
        return m
    }

    public func enqueue(_ job: JobRecord, maxQueued: Int) async throws -> Int {
        try await pool.write { db in
            let queued = try JobRecord.filter(Column("status") == JobStatus.queued.rawValue).fetchCount(db)
            guard queued < maxQueued else { throw StoreError.queueFull(depth: queued) }
            try job.insert(db)
            return queued + 1
        }
    }

    public func claimNext() async throws -> JobRecord? {
        try await pool.write { db in
            // Round-robin: the user whose last job started longest ago (never: first), then FIFO.
            let sql = """
                SELECT j.* FROM job j
                LEFT JOIN (SELECT user, MAX(started_at) AS last FROM job WHERE started_at IS NOT NULL GROUP BY user) u
                  ON u.user = j.user
                WHERE j.status = 'queued'
                ORDER BY COALESCE(u.last, 0), j.seq
                LIMIT 1
                """
            guard var job = try JobRecord.fetchOne(db, sql: sql) else { return nil }
            job.status = .running
            job.startedAt = Date().timeIntervalSince1970
            try db.execute(sql: "UPDATE job SET status = 'running', started_at = ? WHERE id = ?", arguments: [job.startedAt, job.id])
            return job
        }
    }

    public func complete(jobID: String, images: [ImageRecord]) async throws {
        try await pool.write { db in
            for image in images { try image.insert(db) }
            try db.execute(sql: "UPDATE job SET status = 'succeeded', finished_at = ? WHERE id = ?",
                           arguments: [Date().timeIntervalSince1970, jobID])
        }
    }

    public func fail(jobID: String, message: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE job SET status = 'failed', error = ?, finished_at = ? WHERE id = ? AND status != 'cancelled'",
                           arguments: [message, Date().timeIntervalSince1970, jobID])
        }
    }

    public func cancel(jobID: String) async throws -> JobRecord? {
        try await pool.write { db in
            guard let job = try JobRecord.filter(Column("id") == jobID).fetchOne(db) else { return nil }
            if !job.status.isFinished {
                try db.execute(sql: "UPDATE job SET status = 'cancelled', finished_at = ? WHERE id = ?",
                               arguments: [Date().timeIntervalSince1970, jobID])
            }
            return job
        }
    }

    public func job(_ id: String) async throws -> JobRecord? {
        try await pool.read { db in try JobRecord.filter(Column("id") == id).fetchOne(db) }
    }

    public func position(of jobID: String) async throws -> Int? {
        try await pool.read { db in
            guard let seq = try Int64.fetchOne(db, sql: "SELECT seq FROM job WHERE id = ? AND status = 'queued'", arguments: [jobID]) else {
                return nil
            }
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM job WHERE status = 'queued' AND seq <= ?", arguments: [seq])
        }
    }

    public func queuedCount() async throws -> Int {
        try await pool.read { db in try JobRecord.filter(Column("status") == JobStatus.queued.rawValue).fetchCount(db) }
    }

    public func requeueInterrupted() async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "UPDATE job SET status = 'queued', started_at = NULL WHERE status = 'running'")
            return db.changesCount
        }
    }

    public func images(jobID: String) async throws -> [ImageRecord] {
        try await pool.read { db in try ImageRecord.filter(Column("job_id") == jobID).order(Column("idx")).fetchAll(db) }
    }

    public func image(_ id: String) async throws -> ImageRecord? {
        try await pool.read { db in try ImageRecord.fetchOne(db, key: id) }
    }

    public func searchImages(query: String?, limit: Int, before: Double?) async throws -> [ImageRecord] {
        try await pool.read { db in
            // Arena pictures (their job hides the model) never appear in the history.
            var request = ImageRecord.filter(sql: "job_id IN (SELECT id FROM job WHERE NOT hide_model)")
            if let before { request = request.filter(Column("created_at") < before) }
            for word in (query ?? "").split(whereSeparator: \.isWhitespace).prefix(8) {
                // LIKE with escaped wildcards: every word must appear in the prompt or the model name.
                let escaped = String(word).replacingOccurrences(of: "\\", with: "\\\\")
                    .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
                let pattern = "%\(escaped)%"
                request = request.filter(sql: "(prompt LIKE ? ESCAPE '\\' OR model LIKE ? ESCAPE '\\')", arguments: [pattern, pattern])
            }
            return try request.order(Column("created_at").desc, Column("idx")).limit(max(1, min(limit, 200))).fetchAll(db)
        }
    }
}
