// A portable scene-studio renderer for GPU training machines: the same `SceneStudio.render` as
// `lumen scenes render`, compiled on its own (`training/build_renderer.sh`) with the Swift runtime
// linked statically, so it runs on a machine with no Swift, OpenBLAS or libpng installed.
// Writes one training shard (`training/shards.py`): PREFIX.u8 (N×S×S×3 sRGB bytes, in index
// order), PREFIX.jsonl (one scene per line) and, last, PREFIX.done.
//
//   scene-shard SEED train|heldout START COUNT SIZE SUPERSAMPLE SAMPLES PREFIX [TASK]
// TASK draws scenes as `lumen eval` does for that task (`SceneConstraints.evalTask`).
import FoundationEssentials
import Dispatch
import Glibc

let args = CommandLine.arguments
guard args.count == 9 || args.count == 10, let seed = UInt64(args[1]), let split = SceneSplit(rawValue: args[2]), let start = Int(args[3]),
      let count = Int(args[4]), let size = Int(args[5]), let supersample = Int(args[6]), let samples = Int(args[7]),
      count > 0, size >= 8, supersample >= 1, samples >= 1,
      let constraints = args.count == 10 ? SceneConstraints.evalTask(args[9]) : SceneConstraints.none else {
    fputs("usage: scene-shard SEED train|heldout START COUNT SIZE SUPERSAMPLE SAMPLES PREFIX [TASK]\n", stderr)
    exit(2)
}
let prefix = args[8]
let encoder = JSONEncoder()
encoder.outputFormatting = [.sortedKeys]

/// Results by index: each worker writes only its own element, so no lock is needed.
final class Slots: @unchecked Sendable {
    let pixels: UnsafeMutableBufferPointer<[UInt8]>
    let lines: UnsafeMutableBufferPointer<Data?>
    init(_ n: Int) {
        pixels = .allocate(capacity: n); pixels.initialize(repeating: [])
        lines = .allocate(capacity: n); lines.initialize(repeating: nil)
    }
}
let slots = Slots(count)
DispatchQueue.concurrentPerform(iterations: count) { i in
    let r = SceneStudio.render(seed: seed, index: start + i, split: split, size: size, samples: samples, supersample: supersample,
                               constraints: constraints)
    slots.pixels[i] = r.rgb
    slots.lines[i] = try? encoder.encode(r.scene)
}
var bytes = Data(capacity: count * size * size * 3)
var jsonl = Data()
for i in 0..<count {
    guard let line = slots.lines[i] else {
        fputs("scene-shard: scene \(start + i) could not be encoded as JSON\n", stderr)
        exit(1)
    }
    bytes.append(contentsOf: slots.pixels[i])
    jsonl.append(line); jsonl.append(0x0A)
}
do {
    try bytes.write(to: URL(fileURLWithPath: prefix + ".u8"))
    try jsonl.write(to: URL(fileURLWithPath: prefix + ".jsonl"))
    try Data().write(to: URL(fileURLWithPath: prefix + ".done"))
} catch {
    fputs("scene-shard: cannot write \(prefix): \(error)\n", stderr)
    exit(1)
}
