import Foundation
import GRDB

extension BattleRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "battle"
}

extension VoteRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "vote"
}

/// `ArenaStore` in the server's SQLite database (the job store's pool and migrations).
public final class SQLiteArenaStore: ArenaStore {
    let pool: DatabasePool

    public init(_ jobs: SQLiteJobStore) { pool = jobs.pool }

    static func migrate(_ m: inout DatabaseMigrator) {
        m.registerMigration("v3-arena") { db in
            try db.create(table: "battle") { t in
                t.primaryKey("id", .text)
                t.column("prompt", .text).notNull()
                t.column("category", .text)
                t.column("model_a", .text).notNull()
                t.column("model_b", .text).notNull()
                t.column("swapped", .boolean).notNull()
                t.column("seed", .integer).notNull()
                t.column("job_left", .text).notNull()
                t.column("job_right", .text).notNull()
                t.column("status", .text).notNull()
                t.column("created_at", .double).notNull()
                t.column("shown_at", .double)
                t.column("expires_at", .double).notNull()
                t.column("revealed_at", .double)
                t.column("voter", .text).notNull()
            }
            try db.create(table: "vote") { t in
                // One vote per battle, enforced by the database.
                t.primaryKey("battle_id", .text).references("battle", column: "id")
                t.column("voter", .text).notNull().indexed()
                t.column("outcome", .text).notNull()
                t.column("anonymous", .boolean).notNull()
                t.column("created_at", .double).notNull()
            }
        }
    }

    public func insert(_ battle: BattleRecord) async throws { try await pool.write { db in try battle.insert(db) } }

    public func battle(_ id: String) async throws -> BattleRecord? {
        try await pool.read { db in try BattleRecord.fetchOne(db, key: id) }
    }

    public func update(_ battle: BattleRecord) async throws { try await pool.write { db in try battle.update(db) } }

    public func addVote(_ vote: VoteRecord) async throws -> Bool {
        try await pool.write { db in
            guard try VoteRecord.fetchOne(db, key: vote.battleID) == nil else { return false }
            try vote.insert(db)
            try db.execute(sql: "UPDATE battle SET status = 'voted', revealed_at = COALESCE(revealed_at, ?) WHERE id = ?",
                           arguments: [vote.createdAt, vote.battleID])
            return true
        }
    }

    public func vote(battleID: String) async throws -> VoteRecord? {
        try await pool.read { db in try VoteRecord.fetchOne(db, key: battleID) }
    }

    public func votedBattles() async throws -> [(BattleRecord, VoteRecord)] {
        try await pool.read { db in
            let votes = try VoteRecord.order(Column("created_at")).fetchAll(db)
            let battles = try BattleRecord.filter(keys: votes.map(\.battleID)).fetchAll(db)
            let byID = Dictionary(uniqueKeysWithValues: battles.map { ($0.id, $0) })
            return votes.compactMap { v in byID[v.battleID].map { ($0, v) } }
        }
    }

    public func voteCounts() async throws -> [String: Int] {
        try await pool.read { db in
            var counts: [String: Int] = [:]
            let rows = try Row.fetchAll(db, sql: """
                SELECT b.model_a AS a, b.model_b AS b FROM vote v JOIN battle b ON b.id = v.battle_id WHERE v.anonymous
                """)
            for row in rows {
                counts[row["a"] as String, default: 0] += 1
                counts[row["b"] as String, default: 0] += 1
            }
            return counts
        }
    }
}
