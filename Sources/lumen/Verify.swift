import ArgumentParser
import Foundation
import LumenImageIO
import LumenProvenance

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the provenance marks of pictures: XMP digital source type, invisible watermark, C2PA manifest.")

    @Argument(help: "PNG or JPEG files.") var files: [String]
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() throws {
        var reports: [[String: Any]] = []
        var failed = false
        for file in files {
            var r: [String: Any] = ["file": file]
            do {
                guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
                let isJPEG = data.starts(with: [0xFF, 0xD8])
                let chunks = isJPEG ? [] : try PNGChunks.read(data)
                var texts = PNGChunks.texts(chunks)
                if isJPEG {
                    texts[XMP.pngKeyword] = JPEGCodec.xmp(data)
                    texts["parameters"] = JPEGCodec.comment(data)
                }
                r["format"] = isJPEG ? "jpeg" : "png"
                if let xmp = texts[XMP.pngKeyword] {
                    r["xmp"] = [
                        "digital_source_type": XMP.property("Iptc4xmpExt:DigitalSourceType", in: xmp) ?? NSNull(),
                        "instance_id": XMP.property("xmpMM:InstanceID", in: xmp) ?? NSNull(),
                        "creator_tool": XMP.property("xmp:CreatorTool", in: xmp) ?? NSNull(),
                    ] as [String: Any]
                } else {
                    r["xmp"] = NSNull()
                }
                r["ai_generated"] = (texts[XMP.pngKeyword].flatMap { XMP.property("Iptc4xmpExt:DigitalSourceType", in: $0) }) == XMP.trainedAlgorithmicMedia
                r["c2pa"] = chunks.contains { $0.type == "caBX" } ? "present (not validated by this version)" : "absent"  // JPEG APP11 not read yet
                r["parameters"] = texts["parameters"] ?? NSNull()
                let image = isJPEG ? try JPEGCodec.decodeRGB(data) : try PNGDecoder.decodeRGB(data)
                if image.width >= DwtDctWatermark.minimumSize && image.height >= DwtDctWatermark.minimumSize {
                    let scores = DwtDctWatermark.decode(rgb: image.pixels, width: image.width, height: image.height, bitCount: WatermarkPayload.bitCount)
                    let bits = scores.map { $0 > 0.5 }
                    if let payload = WatermarkPayload(bits: bits) {
                        let confidence = scores.map { abs($0 - 0.5) * 2 }.reduce(0, +) / Float(scores.count)
                        r["watermark"] = ["present": true, "generator": "Lumen", "picture_id": String(format: "%08x", payload.pictureID),
                                          "confidence": Double(confidence)] as [String: Any]
                    } else {
                        r["watermark"] = ["present": false] as [String: Any]
                    }
                } else {
                    r["watermark"] = ["present": false, "reason": "pictures under 256×256 carry no dwtDct watermark"] as [String: Any]
                }
            } catch {
                r["error"] = "\(error)"
                failed = true
            }
            reports.append(r)
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: files.count == 1 ? reports[0] : reports, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for r in reports {
                print(r["file"] as! String)
                if let e = r["error"] { print("  error: \(e)"); continue }
                let xmp = r["xmp"] as? [String: Any]
                print("  AI-generated (XMP DigitalSourceType): \(r["ai_generated"] as! Bool ? "yes, trainedAlgorithmicMedia" : "no")")
                if let xmp { print("  XMP: \(xmp["creator_tool"] ?? "?"), \(xmp["instance_id"] ?? "?")") }
                let wm = r["watermark"] as! [String: Any]
                if wm["present"] as! Bool {
                    print("  watermark: Lumen, picture \(wm["picture_id"]!), confidence \(String(format: "%.2f", wm["confidence"] as! Double))")
                } else {
                    print("  watermark: not found\((wm["reason"] as? String).map { " (\($0))" } ?? "")")
                }
                print("  C2PA manifest: \(r["c2pa"]!)")
            }
        }
        if failed { throw ExitCode.failure }
    }
}
