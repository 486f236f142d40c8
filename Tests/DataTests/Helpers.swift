import Data
import Foundation
import Tensors

/// A fresh temporary folder, removed by the caller.
func temporaryFolder(_ name: String = #function) throws -> String {
    let path = NSTemporaryDirectory() + "bagoftricks-\(name.filter(\.isLetter))-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A smooth colour pattern (JPEG keeps it close), different per seed.
func pattern(width: Int, height: Int, channels: Int, seed: Int) -> Image {
    var pixels: [Float] = []
    for y in 0..<height { for x in 0..<width { for c in 0..<channels {
        pixels.append((128 + 80 * sin(Float(x) * 0.3 + Float(seed)) * cos(Float(y) * 0.2 + Float(c))).rounded())
    } } }
    return Image(width: width, height: height, channels: channels, pixels: pixels)
}

/// An in-memory dataset of generated images.
struct GeneratedDataset: Dataset {
    let count: Int
    let classes = ["a", "b", "c"]
    let channels = 3
    var size = 12
    func label(at index: Int) -> Int { index % 3 }
    func image(at index: Int) throws -> Image { pattern(width: size, height: size, channels: 3, seed: index) }
    func source(of index: Int) -> String { "generated[\(index)]" }
}

func write(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}
