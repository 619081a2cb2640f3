// swift-tools-version:6.2
// magfleet: MagFace embeddings at cluster scale. The targets mirror the architecture
// (docs/architecture.md): C bindings -> base -> kernels -> domain -> pure cluster core ->
// services -> the executable. Linux only (it reads /proc and links glibc's allocator options),
// so no Apple platform is declared. InlineArray and value generics need tools version 6.2.
import PackageDescription

/// Numeric code is 10-100x slower unoptimized, so the hot targets are always built with -O,
/// also in the debug configuration that `swift test` uses. The rest of the package (and the
/// tests) stay debug so that a change rebuilds quickly. See docs/architecture.md, "Builds".
let optimized: [SwiftSetting] = [.unsafeFlags(["-O"])]

/// The engine's kernels (Tensor) vectorise for AVX2 + FMA on x86-64 (x86-64-v3: Intel Haswell,
/// AMD Zen and later). Swift takes its target features from the Clang importer's flags. The
/// engine checks the CPU before it runs (`HostCPU`, in Base), and `magfleet doctor` reports it.
#if arch(x86_64)
let vectorized: [SwiftSetting] = [.unsafeFlags(["-O", "-Xcc", "-mavx2", "-Xcc", "-mfma"])]
/// TensorAVX512 holds the one kernel compiled for AVX-512; it runs only where the CPU has it
/// (`HostCPU.hasAVX512`), other CPUs take OpenBLAS for the same GEMMs.
let avx512: [SwiftSetting] = [.unsafeFlags(["-O", "-Xcc", "-mavx512f", "-Xcc", "-mavx2", "-Xcc", "-mfma"])]
/// TensorBF16 (C) holds the `--precision bf16` kernels: VDPBF16PS and the bf16 conversions of
/// AVX512_BF16 (with AVX512BW/VL for the masked 16-bit stores). It runs only where the CPU has
/// them (`HostCPU.hasAVX512BF16`).
let avx512bf16: [CSetting] = [.unsafeFlags(["-O3", "-fno-strict-aliasing", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512bf16", "-mfma"])]
#else
let vectorized: [SwiftSetting] = optimized
let avx512: [SwiftSetting] = optimized
let avx512bf16: [CSetting] = [.unsafeFlags(["-O3"])]
#endif

let package = Package(
    name: "magfleet",
    products: [
        .executable(name: "magfleet", targets: ["magfleet"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        // C bindings: a module map and a header of static inline shims each (no C sources),
        // flags from pkg-config, the Debian package named as the provider.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CZMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CPrefetch"),

        // Base: what every layer may use, built for the baseline instruction set (no -mavx):
        // the seeded generator, the BLAS wrapper, CPU facts, the monotonic clock, FNV-1a.
        .target(name: "Base", dependencies: ["CBLAS", "CPrefetch"], swiftSettings: optimized),

        // Kernels: only the engine (IResNet) imports them.
        .target(name: "TensorAVX512", dependencies: ["Base", "CPrefetch"], swiftSettings: avx512),
        .target(name: "TensorBF16", cSettings: avx512bf16),
        .target(name: "Tensor", dependencies: ["Base", "CPrefetch", "TensorAVX512", "TensorBF16"], swiftSettings: vectorized),

        // Domain.
        .target(name: "Checkpoint", swiftSettings: optimized),
        .target(
            name: "IResNet",
            dependencies: ["Base", "Tensor", "Checkpoint", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: optimized),
        .target(
            name: "Imaging",
            dependencies: ["CJPEG", "CPNG", "Base", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: optimized),
        // SearchAVX2 holds the query scan's dot kernel for AVX2 + FMA; FeatureStore calls it
        // only where the CPU has them, so the store stays usable on any x86-64 host.
        .target(name: "SearchAVX2", dependencies: ["Base"], swiftSettings: vectorized),
        .target(name: "FeatureStore", dependencies: ["CHDF5", "Base", "SearchAVX2"], swiftSettings: optimized),
        .target(name: "Evaluation", dependencies: ["Base"], swiftSettings: optimized),
        .target(name: "Wire", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),

        // The cluster's pure core: shard types, ModelInfo and the seams, both state machines,
        // result validation. Depends on Wire only, so its tests link no C library.
        .target(name: "ClusterCore", dependencies: ["Wire"]),

        // Services: the ZeroMQ wrapper, and the loops that drive the machines over it, the
        // journal, the run identity and lock, the shard sink.
        .target(name: "ZeroMQ", dependencies: ["CZMQ"]),
        .target(
            name: "Cluster",
            dependencies: [
                "ClusterCore", "Wire", "ZeroMQ", "Imaging", "FeatureStore", "Base",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]),

        // Stand-ins (NOT A MODEL): the hash embedder, for tests and benchmarks. Only the
        // executable and the tests link it.
        .target(name: "TestEmbedding", dependencies: ["ClusterCore", "Imaging", "Base"]),

        // The executable: one file per subcommand under Commands/, and the adapters that plug
        // the engine and imaging into the cluster (Adapters/).
        .executableTarget(
            name: "magfleet",
            dependencies: [
                "Base", "Tensor", "Checkpoint", "IResNet", "Imaging", "FeatureStore", "Wire", "ZeroMQ",
                "ClusterCore", "Cluster", "TestEmbedding", "Evaluation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]),

        // Tests. Fixtures are made by Tests/Fixtures/generate.py with the real peers.
        .testTarget(
            name: "BindingsTests",
            dependencies: ["CBLAS", "CJPEG", "CPNG", "CZMQ", "CHDF5"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "TensorTests", dependencies: ["Base", "Tensor", "TensorBF16"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"], resources: [.copy("Fixtures")]),
        .testTarget(name: "IResNetTests", dependencies: ["IResNet", "Checkpoint", "Tensor", "Imaging", "Base"], resources: [.copy("Fixtures")]),
        .testTarget(name: "FeatureStoreTests", dependencies: ["FeatureStore", "Base", "SearchAVX2", "TestSupport"], resources: [.copy("Fixtures")]),
        .target(name: "TestSupport", dependencies: ["Cluster", "ClusterCore", "TestEmbedding", "FeatureStore"], path: "Tests/TestSupport"),
        .testTarget(name: "MagfleetTests", dependencies: [
            "TestSupport", "magfleet", "Evaluation", "FeatureStore", "Tensor", "IResNet", "Imaging", "ClusterCore", "Cluster", "Base",
        ]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Base", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ClusterCoreTests", dependencies: ["ClusterCore", "Wire"]),
        .testTarget(
            name: "ClusterTests",
            dependencies: ["Cluster", "ClusterCore", "TestEmbedding", "Wire", "ZeroMQ", "Imaging", "FeatureStore", "Base", "TestSupport"]),
        .testTarget(name: "ClusterIntegrationTests", dependencies: [
            "Cluster", "ClusterCore", "TestEmbedding", "Wire", "ZeroMQ", "Imaging", "IResNet", "TestSupport", "magfleet",
        ]),
        .testTarget(name: "DeployTests", dependencies: ["TestSupport", "Cluster", "ClusterCore"]),
    ],
    swiftLanguageModes: [.v6]
)
