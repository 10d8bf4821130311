// swift-tools-version: 6.0
import PackageDescription

let optimize: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

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
    ],
    targets: [
        // Native libraries from Debian (see .ci/run for the apt packages).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),

        // Tensor core and CPU kernels (BLAS-backed GEMM, convolution, norms, attention, RNG).
        .target(name: "LumenTensor", dependencies: ["COpenBLAS"], swiftSettings: optimize),
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
        .target(name: "LumenScenes", dependencies: ["LumenTensor"], swiftSettings: optimize),
        // Provenance marks: XMP digital source type, the dwtDct invisible watermark, PNG chunk reading.
        .target(name: "LumenProvenance", swiftSettings: optimize),
        // Arena maths: Bradley–Terry ratings, intervals, ranks, Elo, battle logs (no dependencies).
        .target(name: "LumenArena", swiftSettings: optimize),
        // Image encoding (PNG with text chunks).
        .target(name: "LumenImageIO", dependencies: ["CPNG", "CTurboJPEG"], swiftSettings: optimize),
        .executableTarget(
            name: "lumen",
            dependencies: [
                "LumenPipelines", "LumenImageIO", "LumenArena", "LumenScenes", "LumenProvenance",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: optimize),
        .testTarget(
            name: "LumenEngineTests",
            dependencies: ["LumenPipelines", "LumenImageIO", "LumenArena", "LumenScenes", "LumenProvenance"],
            resources: [.copy("Fixtures")]),
    ]
)
