// swift-tools-version: 6.0
import PackageDescription

// Code is generated for the CPU that builds it (AVX2 and F16C on the machines here): without
// this, Swift targets baseline x86-64 (SSE2), so every `SIMD8<Float>` kernel runs as two 4-wide
// halves with out-of-line generic calls for `pointwiseMax` and friends — measured: softmax 2.5 →
// 0.8 ns per element, the SD UNet step at 512² with guidance 16.2 → 12.8 s (with the attention
// rework of the same change). Lumen is built from source where it runs (README Quick start);
// for a binary that must run on other x86-64 machines, build with `LUMEN_TARGET_CPU=x86-64`
// (or another LLVM CPU name).
let targetCPU = Context.environment["LUMEN_TARGET_CPU"] ?? "native"
let optimize: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
    .unsafeFlags(["-target-cpu", targetCPU]),
]
// The tensor kernels are optimised in debug builds too: SIMD8 arithmetic (`VectorMath`) and the
// Winograd transforms are ~10× slower unoptimised, which made the debug test suite's generations
// slow enough to time out under load. Bounds checks stay on in debug (-O, not -Ounchecked).
let kernels: [SwiftSetting] = optimize + [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "Lumen",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "lumen", targets: ["lumen"]),
        .library(name: "LumenPipelines", targets: ["LumenPipelines"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // Server only: kept out of the engine targets so they build fast.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        // Provenance: C2PA signatures (ES256) and X.509 certificates.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        // Native libraries from Debian (see .ci/run for the apt packages).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CWebP", pkgConfig: "libwebp", providers: [.apt(["libwebp-dev"])]),

        // The hand-written C kernels, on AVX512-BF16 dot products: weight-streaming products
        // (WeightStreaming.swift) and flash attention (NN.attentionFlash); optimised in debug too,
        // like the Swift kernels.
        .target(name: "CLumenKernels", cSettings: [.unsafeFlags(["-O2"])]),
        // Tensor core and CPU kernels (BLAS-backed GEMM, convolution, norms, attention, RNG).
        .target(name: "LumenTensor", dependencies: ["COpenBLAS", "CMalloc", "CDNNL", "CLumenKernels"], swiftSettings: kernels),
        // safetensors, diffusers folder layout, single-file LDM checkpoints, the weight store.
        .target(name: "LumenWeights", dependencies: ["LumenTensor"], swiftSettings: optimize),
        // CLIP byte-level BPE tokenizer.
        .target(name: "LumenTokenizers", swiftSettings: optimize),
        // Neural network components with diffusers module paths.
        .target(name: "LumenModels", dependencies: ["LumenTensor", "LumenWeights"], swiftSettings: optimize),
        // Noise schedulers with diffusers names and config fields.
        .target(name: "LumenSchedulers", dependencies: ["LumenTensor"], swiftSettings: optimize),
        // Text-to-image pipeline that ties the parts together.
        .target(name: "LumenPipelines",
                dependencies: ["LumenTensor", "LumenWeights", "LumenTokenizers", "LumenModels", "LumenSchedulers"],
                swiftSettings: optimize),
        // Scene studio: a ray tracer that renders captioned training and evaluation pictures.
        .target(name: "LumenScenes", dependencies: ["LumenTensor", "LumenImageIO"], swiftSettings: optimize),
        // `lumen eval`: GenEval-style tasks on scene-studio prompts, judged by the scene checker.
        .target(name: "LumenEval", dependencies: ["LumenPipelines", "LumenModels", "LumenScenes", "LumenArena", "COpenBLAS"], swiftSettings: optimize),
        // Provenance marks: C2PA manifests (JUMBF, CBOR, COSE ES256, X.509), XMP digital source type, the dwtDct watermark.
        .target(name: "LumenProvenance",
                dependencies: [
                    "LumenImageIO",
                    .product(name: "Crypto", package: "swift-crypto"),
                    .product(name: "X509", package: "swift-certificates"),
                    .product(name: "SwiftASN1", package: "swift-asn1"),
                ],
                swiftSettings: optimize),
        // Arena maths: Bradley–Terry ratings, intervals, ranks, Elo, battle logs (no dependencies).
        .target(name: "LumenArena", swiftSettings: optimize),
        // Image encoding and decoding: PNG with text chunks, JPEG with XMP, WebP with XMP.
        .target(name: "LumenImageIO", dependencies: ["CPNG", "CTurboJPEG", "CWebP"], swiftSettings: optimize),
        // What the CLI and the server share: the model catalog, request defaults, and writing a
        // generated picture with its provenance marks.
        .target(name: "LumenService",
                dependencies: ["LumenPipelines", "LumenImageIO", "LumenProvenance", "LumenSchedulers",
                               .product(name: "X509", package: "swift-certificates")],
                swiftSettings: optimize),
        // `lumen serve`: OpenAI-compatible Images API, persistent job queue, Image Creator web app.
        .target(name: "LumenServer",
                dependencies: [
                    "LumenService", "LumenArena", "LumenProvenance",
                    .product(name: "Hummingbird", package: "hummingbird"),
                    .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                    .product(name: "GRDB", package: "GRDB.swift"),
                    .product(name: "Logging", package: "swift-log"),
                    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                    .product(name: "HTTPTypes", package: "swift-http-types"),
                    .product(name: "NIOCore", package: "swift-nio"),
                    .product(name: "Crypto", package: "swift-crypto"),
                ],
                resources: [.copy("Resources")],
                swiftSettings: optimize),
        .executableTarget(
            name: "lumen",
            dependencies: [
                "LumenPipelines", "LumenImageIO", "LumenArena", "LumenScenes", "LumenProvenance",
                "LumenService", "LumenServer", "LumenEval",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: optimize),
        .testTarget(
            name: "LumenEngineTests",
            dependencies: ["LumenPipelines", "LumenImageIO", "LumenArena", "LumenScenes", "LumenProvenance", "LumenEval",
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "X509", package: "swift-certificates")],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "LumenServerTests",
            dependencies: [
                "LumenServer", "LumenService", "LumenImageIO",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]),
    ]
)
