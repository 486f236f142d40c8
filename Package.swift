// swift-tools-version: 6.0
import PackageDescription

// Layers, each importing only those below it:
//   CDNNL (C header of oneDNN) -> DNNL (owning wrappers, errors, primitive cache)
//   -> Tensors (tensor, tape, ops) -> NN (modules, initialisers, safetensors) -> Models -> Benchmarks -> tricks (command line: parsing and printing).
let package = Package(
    name: "BagOfTricks",
    products: [
        .library(name: "Tensors", targets: ["Tensors"]),
        .executable(name: "tricks", targets: ["tricks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .target(name: "DNNL", dependencies: ["CDNNL"]),
        .target(name: "Tensors", dependencies: ["DNNL"]),
        .target(name: "NN", dependencies: ["Tensors", "DNNL"]),
        .systemLibrary(name: "CImageCodecs", path: "Sources/CImageCodecs"),
        .target(name: "Data", dependencies: ["CImageCodecs", "Tensors", "DNNL"]),
        .target(name: "Optim", dependencies: ["Tensors", "DNNL"]),
        .target(name: "Models", dependencies: ["NN", "Tensors", "DNNL"]),
        .target(name: "Train", dependencies: ["Models", "NN", "Optim", "Data", "Tensors", "DNNL"]),
        .target(name: "Distributed", dependencies: ["Tensors"]),
        .target(name: "Benchmarks", dependencies: ["Tensors", "DNNL", "CDNNL", "Data", "Models", "NN", "Optim"]),
        .executableTarget(
            name: "tricks",
            dependencies: [
                "Tensors", "DNNL", "NN", "Models", "Data", "Optim", "Train", "Benchmarks", "Distributed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "DNNLTests", dependencies: ["DNNL"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "DNNL"]),
        .testTarget(name: "OptimTests", dependencies: ["Optim", "Tensors"]),
        .testTarget(name: "TrainTests", dependencies: ["Train", "Data", "Models", "NN", "Optim", "Tensors"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Tensors"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "NN", "Tensors", "DNNL"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
