// swift-tools-version: 6.0
import PackageDescription

// Layers, each importing only those below it:
//   CDNNL (C header of oneDNN) -> Tensors (tensor, tape, ops; the backends behind them in
//   Sources/Tensors/Backends: OneDNN, the only code that sees CDNNL, and Reference)
//   -> NN (modules, initialisers, safetensors) -> Models -> Benchmarks -> tricks (command line: parsing and printing).
// Export (ONNX, through swift-protobuf's runtime; the generated Swift is committed) sits beside Models.
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
        .executableTarget(
            name: "tricks",
            dependencies: [
                "Tensors", "NN", "Models", "Data", "Optim", "Train", "Benchmarks", "Distributed", "Export",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "OptimTests", dependencies: ["Optim", "Tensors"]),
        .testTarget(name: "TrainTests", dependencies: ["Train", "Data", "Models", "NN", "Optim", "Tensors"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Tensors"]),
        .testTarget(name: "ExportTests", dependencies: ["Export", "Models", "NN", "Tensors",
                                                        .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "NN", "Tensors", "Benchmarks"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
