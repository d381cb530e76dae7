// swift-tools-version:6.1
import Foundation
import PackageDescription

// librdkafka: we compile against Debian's headers (2.0.2) and load a newer runtime (>= 2.3, installed by
// `ops/setup` into /opt/qanchor/lib) through an rpath, because 2.0.2 cannot talk to current brokers.
// Override the directory with QANCHOR_RDKAFKA_LIBDIR at build time.
// ops/package sets it to `$ORIGIN/../lib` (the runtime beside the binary) and then also asks for DT_RPATH instead of
// DT_RUNPATH, so the bundled libraries find each other too (RUNPATH applies only to the binary's direct dependencies).
let rdkafkaRuntimeDir = ProcessInfo.processInfo.environment["QANCHOR_RDKAFKA_LIBDIR"] ?? "/opt/qanchor/lib"
let rdkafkaRuntime: [LinkerSetting] = [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", rdkafkaRuntimeDir]
    + (rdkafkaRuntimeDir.hasPrefix("$ORIGIN") ? ["-Xlinker", "--disable-new-dtags"] : []))]

// The engine's SIMD kernels (SIMD16<Float>) need at least AVX2/FMA: Swift's x86-64 baseline (SSE2) lowers them
// ~13× slower. Override with QANCHOR_TARGET_CPU (e.g. "native", "znver4"); ignored on other architectures.
#if arch(x86_64)
let modelTargetCPU: [SwiftSetting] = [.unsafeFlags(["-target-cpu",
    ProcessInfo.processInfo.environment["QANCHOR_TARGET_CPU"] ?? "haswell"])]
#else
let modelTargetCPU: [SwiftSetting] = []
#endif

let package = Package(
    name: "qanchor",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "qanchor", targets: ["qanchor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
    ],
    targets: [
        // System libraries (module map + shim header each).
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka",
                       providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb",
                       providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CCBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),

        // Libraries, one job each. Dependency direction: qanchor → QAnchorDaemon → {Kafka, Store, Model}.
        .target(name: "QAnchorKafka", dependencies: [
            "CRdKafka",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "QAnchorStore", dependencies: [
            "CLMDB",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The engine's own AVX512-BF16 GEMM (opt-in bf16 precision). No special compiler flags: its kernels carry
        // `__attribute__((target(...)))` and are only called after a run-time CPU check.
        .target(name: "CQAnchorKernels"),
        .target(name: "QAnchorModel", dependencies: [
            "CCBLAS", "CQAnchorKernels",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: modelTargetCPU),
        .target(name: "QAnchorDaemon", dependencies: [
            "QAnchorKafka", "QAnchorStore", "QAnchorModel",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "SystemPackage", package: "swift-system"),
        ], plugins: ["BuildInfoPlugin"]),
        // Writes the git commit and build date into QAnchorDaemon (`BuildInfo`) before each build.
        .plugin(name: "BuildInfoPlugin", capability: .buildTool(), path: "Sources/BuildInfoPlugin"),
        .executableTarget(name: "qanchor", dependencies: [
            "QAnchorDaemon", "QAnchorKafka", "QAnchorStore", "QAnchorModel",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], linkerSettings: rdkafkaRuntime),
        // The fuzz targets (docs/reliability.md): replays inputs in a normal build; `ops/fuzz` builds it for libFuzzer.
        .executableTarget(name: "qanchor-fuzz", dependencies: ["QAnchorDaemon", "QAnchorModel", "QAnchorStore"],
                          path: "Sources/QAnchorFuzz", linkerSettings: rdkafkaRuntime),

        .target(name: "QAnchorTestSupport", dependencies: ["QAnchorKafka"], path: "Tests/QAnchorTestSupport"),
        .testTarget(name: "QAnchorKafkaTests", dependencies: ["QAnchorKafka", "QAnchorTestSupport"],
                    linkerSettings: rdkafkaRuntime),
        .testTarget(name: "QAnchorStoreTests", dependencies: ["QAnchorStore", "QAnchorTestSupport"]),
        .testTarget(name: "QAnchorModelTests", dependencies: ["QAnchorModel"]),
        .testTarget(name: "QAnchorCLITests", dependencies: ["QAnchorTestSupport"]),
        .testTarget(name: "QAnchorDaemonTests", dependencies: ["QAnchorDaemon", "QAnchorKafka", "QAnchorTestSupport"],
                    linkerSettings: rdkafkaRuntime),
    ],
    swiftLanguageModes: [.v6]
)
