// swift-tools-version:6.1
// magfleet: MagFace embeddings at cluster scale. The targets mirror the architecture
// (docs/architecture.md): C bindings -> owned wrappers -> domain -> the executable.
import PackageDescription

/// Numeric code is 10-100x slower unoptimized, so the hot targets are always built with -O,
/// also in the debug configuration that `swift test` uses. The rest of the package (and the
/// tests) stay debug so that a change rebuilds quickly. See docs/architecture.md, "Builds".
let optimized: [SwiftSetting] = [.unsafeFlags(["-O"])]

/// The engine's kernels (Tensor) vectorise for AVX2 + FMA on x86-64 (x86-64-v3: Intel Haswell,
/// AMD Zen and later). Swift takes its target features from the Clang importer's flags. The
/// engine checks the CPU before it runs (`CPUFeatures`), and `magfleet doctor` reports it.
#if arch(x86_64)
let vectorized: [SwiftSetting] = [.unsafeFlags(["-O", "-Xcc", "-mavx2", "-Xcc", "-mfma"])]
/// TensorAVX512 holds the one kernel compiled for AVX-512; it runs only where the CPU has it
/// (`HostCPU.hasAVX512`), other CPUs take OpenBLAS for the same GEMMs.
let avx512: [SwiftSetting] = [.unsafeFlags(["-O", "-Xcc", "-mavx512f", "-Xcc", "-mavx2", "-Xcc", "-mfma"])]
#else
let vectorized: [SwiftSetting] = optimized
let avx512: [SwiftSetting] = optimized
#endif

let package = Package(
    name: "magfleet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "magfleet", targets: ["magfleet"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // C bindings: a module map and a header of static inline shims each (no C sources),
        // flags from pkg-config, the Debian package named as the provider.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CZMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev"])]),

        // Wrappers and domain.
        .systemLibrary(name: "CPrefetch"),
        .target(name: "TensorAVX512", dependencies: ["CPrefetch"], swiftSettings: avx512),
        .target(name: "Tensor", dependencies: ["CBLAS", "CPrefetch", "TensorAVX512"], swiftSettings: vectorized),
        .target(
            name: "Checkpoint",
            dependencies: ["Tensor"],
            swiftSettings: optimized),
        .target(
            name: "IResNet",
            dependencies: ["Tensor", "Checkpoint", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: optimized),
        .target(
            name: "Imaging",
            dependencies: ["CJPEG", "CPNG", "Tensor", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: optimized),
        .target(name: "FeatureStore", dependencies: ["CHDF5", "CBLAS", "Tensor"], swiftSettings: optimized),
        .target(name: "Wire", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "ZeroMQ", dependencies: ["CZMQ"]),
        .target(
            name: "Cluster",
            dependencies: [
                "Wire", "ZeroMQ", "IResNet", "Imaging", "FeatureStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .target(name: "Evaluation", dependencies: ["Tensor"], swiftSettings: optimized),

        // The executable: one file per subcommand under Commands/.
        .executableTarget(
            name: "magfleet",
            dependencies: [
                "Tensor", "Checkpoint", "IResNet", "Imaging", "FeatureStore", "Wire", "ZeroMQ",
                "Cluster", "Evaluation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Tests. Fixtures are made by Tests/Fixtures/generate.py with the real peers.
        .testTarget(
            name: "BindingsTests",
            dependencies: ["CBLAS", "CJPEG", "CPNG", "CZMQ", "CHDF5"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TensorAVX512"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"], resources: [.copy("Fixtures")]),
        .testTarget(name: "IResNetTests", dependencies: ["IResNet", "Checkpoint", "Tensor", "Imaging"], resources: [.copy("Fixtures")]),
        .testTarget(name: "FeatureStoreTests", dependencies: ["FeatureStore", "Tensor", "TestSupport"], resources: [.copy("Fixtures")]),
        .target(name: "TestSupport", dependencies: ["Cluster", "FeatureStore"], path: "Tests/TestSupport"),
        .testTarget(name: "MagfleetTests", dependencies: ["TestSupport", "magfleet", "Evaluation", "FeatureStore", "Tensor"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Tensor", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "ClusterTests",
            dependencies: ["Cluster", "Wire", "ZeroMQ", "Imaging", "FeatureStore", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ClusterIntegrationTests", dependencies: ["Cluster", "Wire", "ZeroMQ", "Imaging", "IResNet", "TestSupport"]),
        .testTarget(name: "DeployTests", dependencies: ["TestSupport", "Cluster"]),
    ],
    swiftLanguageModes: [.v6]
)
