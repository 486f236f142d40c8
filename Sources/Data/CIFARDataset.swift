/// CIFAR-10 and CIFAR-100 binary files (`data_batch_1.bin` ...): each record is the label
/// byte(s) then 3072 bytes of 32x32 RGB in planar order. CIFAR-100 records carry a coarse and a
/// fine label; the fine one (100 classes) is used.
public struct CIFARDataset: Dataset {
    public let classes: [String]
    public let channels = 3
    let records: [UInt8]
    let recordSize: Int
    let labelOffset: Int
    let files: [String]
    public let count: Int

    public init(files: [String], hundred: Bool = false, classes: [String]? = nil) throws {
        guard !files.isEmpty else { throw DataError("cifar", "no files given") }
        labelOffset = hundred ? 1 : 0
        recordSize = 3072 + (hundred ? 2 : 1)
        var records: [UInt8] = []
        for file in files {
            let bytes = try readFile(file)
            guard !bytes.isEmpty, bytes.count % recordSize == 0 else {
                throw DataError(file, "size \(bytes.count) is not a whole number of \(recordSize)-byte CIFAR-\(hundred ? 100 : 10) records")
            }
            records += bytes
        }
        self.records = records
        self.files = files
        count = records.count / recordSize
        let classCount = hundred ? 100 : 10
        for i in 0..<count where Int(records[i * recordSize + labelOffset]) >= classCount {
            throw DataError(files[0], "record \(i) has label \(records[i * recordSize + labelOffset]), outside 0..<\(classCount)")
        }
        self.classes = classes ?? (hundred ? (0..<100).map { "\($0)" }
            : ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])
    }

    public func label(at index: Int) -> Int { Int(records[index * recordSize + labelOffset]) }

    public func image(at index: Int) throws -> Image {
        let base = index * recordSize + recordSize - 3072
        var pixels = [Float](repeating: 0, count: 3072)
        for c in 0..<3 { for p in 0..<1024 { pixels[p * 3 + c] = Float(records[base + c * 1024 + p]) } }
        return Image(width: 32, height: 32, channels: 3, pixels: pixels)
    }

    public func source(of index: Int) -> String { "CIFAR record \(index) of \(files.joined(separator: ", "))" }
}
