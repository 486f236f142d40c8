/// MNIST-format IDX files (images `idx3-ubyte`, labels `idx1-ubyte`), gzipped or not:
/// MNIST, Fashion-MNIST, KMNIST. Held in memory as bytes.
public struct IDXDataset: Dataset {
    public let classes: [String]
    public let channels = 1
    let width: Int, height: Int
    let pixels: [UInt8]
    let labels: [UInt8]
    let path: String

    public init(images: String, labels labelsPath: String, classes: [String]? = nil) throws {
        let imageBytes = try readFile(images, gunzip: true), labelBytes = try readFile(labelsPath, gunzip: true)
        func header(_ bytes: [UInt8], _ path: String, dims: Int) throws -> [Int] {
            guard bytes.count >= 4 + 4 * dims, bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08, Int(bytes[3]) == dims else {
                throw DataError(path, "not an IDX file of unsigned bytes with \(dims) dimension\(dims == 1 ? "" : "s")")
            }
            return (0..<dims).map { d in (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * d + $1]) } }
        }
        let imageDims = try header(imageBytes, images, dims: 3), labelDims = try header(labelBytes, labelsPath, dims: 1)
        let (n, h, w) = (imageDims[0], imageDims[1], imageDims[2])
        guard imageBytes.count >= 16 + n * h * w else { throw DataError(images, "truncated: \(n) images of \(h)x\(w) need \(16 + n * h * w) bytes, file has \(imageBytes.count)") }
        guard labelDims[0] == n, labelBytes.count >= 8 + n else { throw DataError(labelsPath, "has \(labelDims[0]) labels for \(n) images") }
        self.pixels = Array(imageBytes[16 ..< 16 + n * h * w])
        self.labels = Array(labelBytes[8 ..< 8 + n])
        (self.width, self.height, self.path) = (w, h, images)
        let classCount = Int(self.labels.max() ?? 0) + 1
        if let classes, classes.count < classCount {
            throw DataError(labelsPath, "labels go up to \(classCount - 1) but \(classes.count) class names were given")
        }
        self.classes = classes ?? (0..<classCount).map { "\($0)" }
    }

    public var count: Int { labels.count }
    public func label(at index: Int) -> Int { Int(labels[index]) }
    public func image(at index: Int) throws -> Image {
        let size = width * height
        return Image(width: width, height: height, channels: 1, bytes: Array(pixels[index * size ..< (index + 1) * size]))
    }
    public func source(of index: Int) -> String { "\(path)[\(index)]" }
}

/// Debian's `dataset-fashion-mnist`: the built-in data of the demo and the tests.
public enum FashionMNIST {
    public static let directory = "/usr/share/datasets/fashion-mnist"
    public static let classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    /// Mean and standard deviation of the training images, in [0, 255].
    public static let mean: [Float] = [72.9404], std: [Float] = [90.0212]

    public static func load(train: Bool, directory: String = directory) throws -> IDXDataset {
        let prefix = train ? "train" : "t10k"
        return try IDXDataset(images: "\(directory)/\(prefix)-images-idx3-ubyte.gz", labels: "\(directory)/\(prefix)-labels-idx1-ubyte.gz",
                              classes: classes)
    }

    public static var isInstalled: Bool { (try? readFile("\(directory)/t10k-labels-idx1-ubyte.gz", gunzip: true)) != nil }
}
