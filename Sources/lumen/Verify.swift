import ArgumentParser
import Foundation
import LumenProvenance
import LumenService
import X509

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check pictures' provenance: C2PA Content Credentials, XMP digital source type, invisible watermark.",
        discussion: "Exits with 1 when a file cannot be read or its Content Credentials are invalid (tampered with).")

    @Argument(help: "PNG, JPEG or WebP files.") var files: [String]
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Option(name: .long, help: "A PEM root certificate to trust (repeatable), e.g. lumen-data/keys/root-ca.pem.") var trust: [String] = []

    func run() throws {
        var anchors: [Certificate] = []
        for path in trust {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read --trust \(path)") }
            anchors += try reportingErrors { try SigningIdentity.certificates(pem: text, file: path) }
        }
        var failed = false
        var out: [[String: Any]] = []
        for file in files {
            do {
                guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
                let report = try ProvenanceCheck.check(data, trustAnchors: anchors)
                if report.c2pa.state == "invalid" { failed = true }
                if json {
                    var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any] ?? [:]
                    object["file"] = file
                    out.append(object)
                } else {
                    print(file)
                    ProvenanceCheck.describe(report).forEach { print($0) }
                }
            } catch {
                failed = true
                if json { out.append(["file": file, "error": "\(error)"]) } else { print("\(file)\n  error: \(error)") }
            }
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: files.count == 1 ? out[0] : out, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        }
        if failed { throw ExitCode.failure }
    }
}
