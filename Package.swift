// swift-tools-version: 6.0
import PackageDescription

// Layers, each importing only those below it (docs/architecture.md draws them):
//   Tensors: tensor, tape and ops, with the backends behind them in Sources/Tensors/Backends
//     (OneDNN, the only backend that sees CDNNL, oneDNN's C header; Reference; CUDA, whose
//     libraries load at run time; Host, the loops the two host backends share).
//   NN (modules, initialisers, safetensors), Optim, Data and Distributed (MPI, loaded at run
//     time) on Tensors; Models on NN; Export (ONNX through swift-protobuf's runtime; the
//     generated Swift is committed) beside Models; Train (the epoch runner and its tasks) on
//     Models, Optim and Data.
//   Benchmarks, which also calls oneDNN directly: its raw convolution primitive and sgemm are
//     the yardsticks our ops are timed against. Diagnostics: test equipment kept out of the
//     core (the CUDA check of `tricks env --cuda`, the CUDA backend's host emulation, the
//     backend parity check of `tricks selftest`).
//   tricks: the command line, parsing and printing only.
let package = Package(
    name: "BagOfTricks",
    products: [
        .library(name: "Tensors", targets: ["Tensors"]),
        .executable(name: "tricks", targets: ["tricks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .target(name: "Tensors", dependencies: ["CDNNL"]),
        .target(name: "NN", dependencies: ["Tensors"]),
        .systemLibrary(name: "CImageCodecs", path: "Sources/CImageCodecs"),
        .target(name: "Data", dependencies: ["CImageCodecs", "Tensors"]),
        .target(name: "Optim", dependencies: ["Tensors"]),
        .target(name: "Models", dependencies: ["NN", "Tensors"]),
        .target(name: "Train", dependencies: ["Models", "NN", "Optim", "Data", "Tensors"]),
        .target(name: "Distributed", dependencies: ["Tensors"]),
        .target(name: "Export", dependencies: ["NN", "Tensors", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "Benchmarks", dependencies: ["Tensors", "CDNNL", "Data", "Models", "NN", "Optim"]),
        .target(name: "Diagnostics", dependencies: ["Tensors", "Models", "NN", "Optim"]),
        .executableTarget(
            name: "tricks",
            dependencies: [
                "Tensors", "NN", "Models", "Data", "Optim", "Train", "Benchmarks", "Diagnostics", "Distributed", "Export",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "Diagnostics"]),
        .testTarget(name: "OptimTests", dependencies: ["Optim", "Tensors", "Diagnostics"]),
        .testTarget(name: "TrainTests", dependencies: ["Train", "Data", "Models", "NN", "Optim", "Tensors", "Diagnostics"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Tensors"]),
        .testTarget(name: "ExportTests", dependencies: ["Export", "Models", "NN", "Tensors",
                                                        .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "NN", "Optim", "Tensors", "Benchmarks", "Diagnostics"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
