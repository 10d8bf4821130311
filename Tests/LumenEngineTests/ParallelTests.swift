import Foundation
@testable import LumenTensor
import Testing

/// The parallel loops on the OpenMP team (`OpenMPTeam`): every index runs exactly once, on the
/// team's threads, marked as a task, and a team loop started inside a task runs inline.
@Suite struct ParallelTests {
    @Test(arguments: [1, 2, 7, 1000]) func teamRunsEveryIndexOnce(count: Int) {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
        hits.initialize(repeating: 0, count: count)
        defer { hits.deallocate() }
        let box = UncheckedSendable(hits)
        let inTask = UnsafeMutablePointer<Bool>.allocate(capacity: count)
        defer { inTask.deallocate() }
        let flags = UncheckedSendable(inTask)
        OpenMPTeam.run(count) { i in
            box.value[i] += 1
            flags.value[i] = ParallelContext.inTask
        }
        #expect((0..<count).allSatisfy { hits[$0] == 1 })
        #expect((0..<count).allSatisfy { inTask[$0] })
        #expect(!ParallelContext.inTask)
    }

    @Test func loopsInsideATaskRunInline() {
        let total = UnsafeMutablePointer<Int>.allocate(capacity: 8)
        total.initialize(repeating: 0, count: 8)
        defer { total.deallocate() }
        let box = UncheckedSendable(total)
        OpenMPTeam.run(8) { i in
            // Nested: runs on this thread, so plain writes to this task's slot are safe.
            OpenMPTeam.run(100) { _ in box.value[i] += 1 }
        }
        #expect((0..<8).allSatisfy { total[$0] == 100 })
    }
}
