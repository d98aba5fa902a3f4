// swift-tools-version:6.0
import PackageDescription

/// The model code is generic over the scalar type (Float to train, Double for the finite-difference
/// tests). Full cross-module optimisation lets the release build specialise it for Float from the
/// concrete caller across module boundaries; without it every kernel runs as unspecialised
/// generic code, about 10x slower.
/// It only does so for public declarations: with the numeric modules' API (Kernels, Layers,
/// Models, Objectives, Images) made `package`, bench-small ran 3.0x slower (1.90 against 0.63 s
/// per step), so those stay public. Every other module is `package`: only this package uses it.
let numeric: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "Discern",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "discern", targets: ["discern"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // System libraries, found through pkg-config. Each shim.h exposes the C macros
        // (MPI_COMM_WORLD, H5T_NATIVE_FLOAT, ...) as functions Swift can call.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5-serial",
                       providers: [.apt(["libhdf5-dev"])]),
        // oneDNN's matmul: the bf16 GEMM (docs/performance.md, "bf16 GEMM library"). Debian's
        // libdnnl-dev ships no pkg-config file; the module map links libdnnl (and libgomp, for the
        // one OpenMP call that keeps oneDNN on the calling thread).
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),
        // CPUID / XGETBV: which bf16 instructions the CPU has and the OS has enabled.
        .target(name: "CCPUFeatures"),
        // libarchive reads the tar shards of a webdataset (`discern prepare --webdataset`).
        .systemLibrary(name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        // zlib's crc32 for the checksum sealed into every HDF5 file Discern writes.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        .target(name: "Kernels",
                dependencies: ["CBLAS", "CDNNL", "CCPUFeatures", .product(name: "RealModule", package: "swift-numerics")], swiftSettings: numeric),
        .target(name: "Communication", dependencies: ["CMPI"]),
        .target(name: "HDF5Files", dependencies: ["CHDF5", "CZlib"]),
        .target(name: "Formats", dependencies: ["Kernels"]),
        .target(name: "Layers", dependencies: ["Kernels"], swiftSettings: numeric),
        // libjpeg reports errors with longjmp, which Swift cannot catch: a small C target does it.
        .target(name: "CImageCodecs", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16"), .linkedLibrary("webp")]),
        .target(name: "Images", dependencies: ["CImageCodecs", "Kernels"], swiftSettings: numeric),
        .target(name: "Models", dependencies: ["Kernels", "Layers"], swiftSettings: numeric),
        // The training objectives: the distributed contrastive loss, the next-token loss and the
        // embedding pooling they read.
        .target(name: "Objectives", dependencies: ["Kernels", "Layers", "Models", .product(name: "RealModule", package: "swift-numerics")],
                swiftSettings: numeric),
        // Model directories on disk (config, safetensors, tokenizer, preprocessor config): kept out of the model code.
        .target(name: "ModelFiles", dependencies: ["Models", "Layers", "Images", "Formats", "Kernels"], swiftSettings: numeric),
        // Model directories made from nothing: `discern init-model` presets, the tokenizer builder
        // and the benchmark's random 16-bit model.
        .target(name: "ModelFactory", dependencies: ["ModelFiles", "Models", "Layers", "Images", "Formats", "Kernels"], swiftSettings: numeric),
        .target(name: "Datasets", dependencies: ["HDF5Files", "Images", "Kernels", "Formats"], swiftSettings: numeric),
        // `discern prepare`: a JSONL manifest of images and captions, or webdataset tar shards,
        // imported into shards; bad lines and members reported and counted.
        .target(name: "DataImport", dependencies: ["CArchive", "Datasets", "HDF5Files", "ModelFiles", "Models", "Layers", "Images", "Formats", "Kernels"], swiftSettings: numeric),
        // `discern synth`: the synthetic scenes (objects, relations, captions, hard negatives) and their renderer.
        .target(name: "Synthetic", dependencies: ["Datasets", "Images", "Kernels"], swiftSettings: numeric),
        // What the binary knows of its build (version, commit, date, static or shared Swift runtime):
        // weak C defaults that launch/dist overrides at link time, and the Swift view of them.
        .target(name: "CBuildInfo"),
        .target(name: "Provenance", dependencies: ["CBuildInfo"]),
        .target(name: "Checkpointing", dependencies: ["HDF5Files", "Provenance"]),
        // The run configuration: the field table (keys, types, defaults, ranges, help), YAML loading,
        // `--set`, the cross-key rules and the generated reference (docs/config.md).
        .target(name: "Configuration", dependencies: ["Formats", "Images", .product(name: "Yams", package: "Yams")]),
        .target(name: "Training", dependencies: ["Configuration", "Kernels", "Layers", "Models", "Objectives", "Communication", "Formats", "Provenance"],
                swiftSettings: numeric),
        // A training run: configuration to finished checkpoints, its state in checkpoint files, the
        // shard data adapter, the data check and the agreement of ranks on what they loaded.
        .target(name: "Runs", dependencies: ["Configuration", "Training", "Checkpointing", "Datasets", "Formats", "Images", "ModelFiles", "Models", "Layers",
                                             "Communication", "Kernels"], swiftSettings: numeric),
        // PEFT interop: adapter export (with its README and checks) and import.
        .target(name: "PEFT", dependencies: ["Runs", "Configuration", "Training", "Checkpointing", "Formats", "HDF5Files", "ModelFiles", "Models",
                                             "Layers", "Kernels"], swiftSettings: numeric),
        // Embedding and evaluation: the embedder, `discern embed` over ranks, evaluation sets, retrieval and hard-negative metrics,
        // the likelihood caption scorer, and the standard benchmarks read in their published formats.
        .target(name: "Evaluation", dependencies: ["Runs", "PEFT", "Configuration", "Training", "Objectives", "Checkpointing", "Datasets", "DataImport",
                                                   "Formats", "HDF5Files", "Images", "ModelFiles", "Models", "Layers", "Kernels", "Communication"],
                swiftSettings: numeric),
        // `discern bench`: a timed training step on a random model of a chosen shape.
        // Its two observers of the C libraries below are linked only into programs that link it:
        // they define malloc & co. and cblas_sgemm, count or record, and forward to the real ones.
        .target(name: "Benchmark", dependencies: ["CAllocationCounter", "CBLASObserver", "Configuration", "Training", "Communication", "ModelFactory",
                                                  "ModelFiles", "Models", "Formats", "Layers", "Kernels"],
                swiftSettings: numeric),
        .target(name: "Platform", dependencies: ["CBLAS", "CMPI", "CHDF5", "Kernels", "Communication"]),
        // Counts heap allocations for `discern bench` by wrapping the C allocator.
        .target(name: "CAllocationCounter"),
        // Shows `discern bench` the shape of every cblas_sgemm by wrapping it.
        .target(name: "CBLASObserver", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        // The command line: argument parsing and printing over the product modules only.
        .executableTarget(name: "discern", dependencies: [
            "Configuration", "Runs", "Evaluation", "PEFT", "Benchmark", "DataImport", "Synthetic", "ModelFactory", "Platform", "Provenance",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Started by the tests under real `mpirun`; not part of the product.
        .executableTarget(name: "discern-test-worker", dependencies: ["Communication", "Training", "Models", "ModelFiles", "Images", "Kernels"],
                         path: "Tests/Worker"),

        .target(name: "TestSupport", dependencies: ["CArchive", "Kernels", "Communication", "Checkpointing", "HDF5Files"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport", "CAllocationCounter"]),
        .testTarget(name: "BenchmarkTests", dependencies: ["Benchmark", "Communication", "Configuration", "Formats", "Kernels", "ModelFactory", "ModelFiles",
                                                     "Models", "Platform", "TestSupport"]),
        .testTarget(name: "CommunicationTests", dependencies: ["Communication", "TestSupport"]),
        .testTarget(name: "HDF5FilesTests", dependencies: ["HDF5Files", "TestSupport"]),
        .testTarget(name: "PlatformTests", dependencies: ["Platform", "TestSupport"]),
        // Fixtures are read through #filePath (made by Tests/Reference/make_*_fixtures.py).
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ObjectivesTests", dependencies: ["Objectives", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["CArchive", "Datasets", "DataImport", "HDF5Files", "Images", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "SyntheticTests", dependencies: ["Synthetic", "Datasets", "Images", "TestSupport"]),
        .testTarget(name: "CheckpointingTests", dependencies: ["Checkpointing", "HDF5Files", "Provenance", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Runs", "Evaluation", "PEFT", "Models", "ModelFiles", "Formats", "HDF5Files", "Images", "Datasets", "Checkpointing",
                                                         "Kernels", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Configuration", "Formats", "Models", "Objectives", "Provenance", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "TestSupport"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images", "ModelFiles", "Formats", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "ModelFiles", "ModelFactory", "Evaluation", "Images", "Formats", "Layers", "Objectives", "Datasets", "Synthetic", "TestSupport"], exclude: ["Fixtures"]),
    ]
)

// The libFuzzer harness (Fuzz/, docs/fuzzing.md) joins the package only when launch/fuzz builds
// it, with the sanitizer flags and its own build folder: the normal build and CI never compile it
// (its files are library code with libFuzzer's entry point, not a program of their own).
if Context.environment["DISCERN_FUZZ"] == "1" {
    package.targets.append(.executableTarget(
        name: "discern-fuzz",
        dependencies: ["Formats", "Models", "ModelFiles", "Configuration", "Training", "Datasets", "DataImport", "Checkpointing"],
        path: "Fuzz"))
}
