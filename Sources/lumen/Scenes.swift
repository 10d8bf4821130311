import ArgumentParser
import Foundation
import LumenEval
import LumenImageIO
import LumenScenes

extension SceneSplit: ExpressibleByArgument {}

struct Scenes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The scene studio: captioned ray-traced pictures.", subcommands: [Render.self, Sheet.self, Bench.self])

    struct Render: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Render captioned scenes as PNGs plus scenes.jsonl.")

        @Option(name: .long, help: "Number of pictures.") var count: Int = 16
        @Option(name: .long, help: "Picture size in pixels (square).") var size: Int = 128
        @Option(name: .long, help: "Dataset seed.") var seed: UInt64 = 0
        @Option(name: .long, help: "train or heldout.") var split: SceneSplit = .train
        @Option(name: .long, help: "Output folder.") var out: String
        @Option(name: .long, help: "Render this many times larger, then downsample (anti-aliasing for tiny pictures).") var supersample: Int = 1
        @Option(name: .long, help: "Samples per pixel along each axis (n² rays).") var samples: Int = 2
        @Option(name: .long, help: "Index of the first picture.") var start: Int = 0
        @Flag(name: .long, help: "Also write the object-id mask (PNG) and depth (float32) files.") var masks = false
        @Option(name: .long, help: "Draw scenes as `lumen eval` does for this task (e.g. one large opaque object in a daylight photo for color).") var task: EvalTask?
        @Flag(name: [.short, .long]) var quiet = false

        func validate() throws {
            if count < 1 || count > 10_000_000 { throw ValidationError("--count must be between 1 and 10000000") }
            if size < 8 || size > 4096 { throw ValidationError("--size must be between 8 and 4096") }
            if supersample < 1 || supersample > 8 { throw ValidationError("--supersample must be between 1 and 8") }
            if samples < 1 || samples > 16 { throw ValidationError("--samples must be between 1 and 16") }
        }

        func run() throws {
            try reportingErrors {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                try HeldOut.listing.write(toFile: out + "/heldout.txt", atomically: true, encoding: .utf8)
                let jsonl = out + "/scenes.jsonl"
                FileManager.default.createFile(atPath: jsonl, contents: nil)
                guard let handle = FileHandle(forWritingAtPath: jsonl) else { throw ValidationError("cannot write \(jsonl)") }
                defer { try? handle.close() }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let bar = ProgressBar(quiet: quiet)
                for i in start..<(start + count) {
                    let r = SceneStudio.render(seed: seed, index: i, split: split, size: size, samples: samples, supersample: supersample,
                                               constraints: task?.constraints ?? .none)
                    let name = String(format: "%@-%07d", split.rawValue, i)
                    try PNGEncoder.encode(width: r.width, height: r.height, pixels: r.rgb, text: [("Description", r.scene.captions.first ?? "")])
                        .write(to: URL(fileURLWithPath: "\(out)/\(name).png"))
                    var line: [String: Any] = ["file": "\(name).png", "captions": r.scene.captions]
                    let sceneJSON = try JSONSerialization.jsonObject(with: encoder.encode(r.scene))
                    line["scene"] = sceneJSON
                    if masks {
                        let ids = r.idMask.map { UInt8(clamping: Int($0) + 1) }
                        try PNGEncoder.encode(width: r.width, height: r.height, pixels: ids, channels: 1)
                            .write(to: URL(fileURLWithPath: "\(out)/\(name)-ids.png"))
                        var depth = Data(capacity: r.depth.count * 4)
                        for v in r.depth { withUnsafeBytes(of: v.bitPattern.littleEndian) { depth.append(contentsOf: $0) } }
                        try depth.write(to: URL(fileURLWithPath: "\(out)/\(name)-depth.f32"))
                        line["mask_file"] = "\(name)-ids.png"
                        line["mask_encoding"] = "8-bit gray: 0 = no object, k = object id k-1"
                        line["depth_file"] = "\(name)-depth.f32"
                        line["depth_encoding"] = "float32 little-endian, row-major \(r.width)x\(r.height), distance along the view axis, inf = sky"
                    }
                    var data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
                    data.append(0x0A)
                    handle.write(data)
                    bar.update(label: "scene", step: i - start + 1, total: count)
                }
                bar.finish("wrote \(count) scenes to \(out)")
            }
        }
    }

    struct Sheet: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A contact sheet of a rendered dataset, with captions.")

        @Argument(help: "A folder written by `lumen scenes render`.") var dir: String
        @Option(name: .long, help: "Output PNG.") var out: String = "sheet.png"
        @Option(name: .long, help: "Most pictures to show.") var limit: Int = 64
        @Option(name: .long, help: "Cell size in pixels.") var cell: Int = 192
        @Option(name: .long, help: "Pictures per row.") var columns: Int = 8

        func run() throws {
            try reportingErrors {
                guard let text = try? String(contentsOfFile: dir + "/scenes.jsonl", encoding: .utf8) else {
                    throw ValidationError("\(dir)/scenes.jsonl not found: render a dataset first")
                }
                var items: [(width: Int, height: Int, pixels: [UInt8], caption: String)] = []
                for line in text.split(separator: "\n").prefix(limit) {
                    guard let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                          let file = obj["file"] as? String, let captions = obj["captions"] as? [String] else {
                        throw ValidationError("malformed line in scenes.jsonl: \(line.prefix(80))")
                    }
                    guard let data = FileManager.default.contents(atPath: dir + "/" + file) else { throw ValidationError("missing \(file)") }
                    let img = try PNGDecoder.decodeRGB(data)
                    items.append((img.width, img.height, img.pixels, captions.first ?? ""))
                }
                let sheet = ContactSheet.make(items, cell: cell, columns: columns)
                try PNGEncoder.encode(width: sheet.width, height: sheet.height, pixels: sheet.pixels).write(to: URL(fileURLWithPath: out))
                printError("wrote \(out) (\(items.count) pictures)")
            }
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Time the scene studio: 32×32 training pictures, 128×128 object scenes and landscapes.")

        @Option(name: .long, help: "Pictures per measurement.") var count: Int = 20
        @Flag(name: .long) var json = false

        func run() throws {
            func time(_ body: () -> Void) -> Double {
                let t0 = DispatchTime.now().uptimeNanoseconds
                body()
                return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            }
            // Median per picture over `count` different scenes.
            func perPicture(size: Int, supersample: Int, samples: Int, filter: (Int) -> Bool) -> Double {
                var times: [Double] = []
                var i = 0
                while times.count < count {
                    defer { i += 1 }
                    guard filter(i) else { continue }
                    times.append(time { _ = SceneStudio.render(seed: 99, index: i, split: .train, size: size, samples: samples, supersample: supersample) })
                }
                return times.sorted()[times.count / 2]
            }
            let landscape: Set<Biome> = [.mountains, .lake, .forest, .desert, .snow]
            func isLandscape(_ i: Int) -> Bool { landscape.contains(SceneSampler.sample(seed: 99, index: i, split: .train).biome) }
            let training = perPicture(size: 32, supersample: 2, samples: 1) { _ in true }
            let objects = perPicture(size: 128, supersample: 1, samples: 2) { !isLandscape($0) }
            let landscapes = perPicture(size: 128, supersample: 1, samples: 2) { isLandscape($0) }
            let result = ["training_32px_s": training, "object_scene_128px_s": objects, "landscape_128px_s": landscapes,
                          "projected_50k_training_minutes": training * 50_000 / 60]
            if json {
                print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print(String(format: "32×32 training picture (64×64 rendered, downsampled)  %.4f s", training))
                print(String(format: "128×128 object scene                                 %.4f s", objects))
                print(String(format: "128×128 landscape                                    %.4f s", landscapes))
                print(String(format: "50,000 training pictures                             %.1f min (projected)", training * 50_000 / 60))
            }
        }
    }
}
