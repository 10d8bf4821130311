import ArgumentParser
import Foundation
import LumenProvenance

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the keys that sign Content Credentials.",
        subcommands: [Init.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a local test root CA and a signing certificate issued by it, in DATA/keys.",
            discussion: """
                Validators accept the pictures as Valid (signer untrusted) and as Trusted once the root is given as a
                trust anchor (lumen verify --trust DATA/keys/root-ca.pem). For production, sign with a certificate from a
                CA on the C2PA trust list: lumen generate/serve --signing-key KEY.pem --signing-chain CHAIN.pem.
                """)

        @Option(name: .long, help: "Data folder (default: $LUMEN_DATA or lumen-data).") var data: String?

        func run() throws {
            let folder = (data ?? defaultDataDirectory()) + "/keys"
            let files = try reportingErrors { try TestCertificateAuthority.create(in: folder) }
            print("""
                created a test root CA and a signing certificate in \(folder) (keys readable by you only):
                  root certificate   \(files.rootCertificate)   (give to verifiers as a trust anchor)
                  root key           \(files.rootKey)
                  signer chain       \(files.signerCertificateChain)
                  signer key         \(files.signerKey)
                """)
        }
    }
}
