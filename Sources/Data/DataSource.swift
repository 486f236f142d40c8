import Foundation

/// Where the training and validation sets come from, as the user names them on the command line.
public struct DataSource: Sendable, Codable, Equatable {
    public enum Format: String, Sendable, Codable, CaseIterable {
        case auto, folder, idx, cifar10, cifar100
    }

    /// A folder, or "fashion-mnist" for Debian's built-in Fashion-MNIST.
    public var path: String
    public var format: Format
    /// A separate validation folder (image folders); otherwise `train/` and `val/` subfolders,
    /// the format's own test split, or `validationSplit` of the training set.
    public var validationPath: String?
    public var validationSplit: Double?
    /// 3 (RGB) or 1 (grey) for image folders.
    public var channels: Int

    public static let builtIn = "fashion-mnist"

    /// Any subset of the fields; the rest keep their defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(path: try c.decodeIfPresent(String.self, forKey: .path) ?? DataSource.builtIn,
                  format: try c.decodeIfPresent(Format.self, forKey: .format) ?? .auto,
                  validationPath: try c.decodeIfPresent(String.self, forKey: .validationPath),
                  validationSplit: try c.decodeIfPresent(Double.self, forKey: .validationSplit),
                  channels: try c.decodeIfPresent(Int.self, forKey: .channels) ?? 3)
    }

    public init(path: String = builtIn, format: Format = .auto, validationPath: String? = nil, validationSplit: Double? = nil, channels: Int = 3) {
        (self.path, self.format, self.validationPath, self.validationSplit, self.channels) = (path, format, validationPath, validationSplit, channels)
    }

    /// The training and validation sets.
    public func load(minShortSide: Int? = nil) throws -> (train: any Dataset, validation: any Dataset) {
        if let split = validationSplit, !(split > 0 && split < 1) {
            throw DataError("--val-split", "must be between 0 and 1, got \(split)")
        }
        let (train, validation) = try loadSplits(minShortSide: minShortSide)
        if let validation, validationSplit == nil { return (train, validation) }
        guard let split = validationSplit else {
            throw DataError(path, "has no validation data: give --val-data or --val-split")
        }
        // A seeded, class-balanced hold-out of the training set.
        let held = Subset(train, perClass: max(1, Int(Double(train.count) * split) / max(1, train.classes.count)), seed: 17)
        let heldSet = Set(held.indices)
        return (Subset(train, indices: (0..<train.count).filter { !heldSet.contains($0) }), held)
    }

    /// Every training image, before any `validationSplit` hold-out.
    public func trainingImages() throws -> any Dataset {
        try loadSplits(minShortSide: nil).0
    }

    func loadSplits(minShortSide: Int?) throws -> (any Dataset, (any Dataset)?) {
        if path == DataSource.builtIn {
            guard FashionMNIST.isInstalled else {
                throw DataError(FashionMNIST.directory, "built-in Fashion-MNIST not found: install Debian's dataset-fashion-mnist (make setup)")
            }
            return (try FashionMNIST.load(train: true), try FashionMNIST.load(train: false))
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw DataError(path, "no such file or folder (--data)") }
        let fm = FileManager.default
        let has = { (name: String) in fm.fileExists(atPath: self.path + "/" + name) }
        var format = self.format
        if format == .auto {
            format = has("train-images-idx3-ubyte.gz") || has("train-images-idx3-ubyte") ? .idx
                : has("data_batch_1.bin") ? .cifar10 : has("train.bin") ? .cifar100 : .folder
        }
        switch format {
        case .idx:
            let gz = has("train-images-idx3-ubyte.gz") ? ".gz" : ""
            let train = try IDXDataset(images: "\(path)/train-images-idx3-ubyte\(gz)", labels: "\(path)/train-labels-idx1-ubyte\(gz)")
            let test = has("t10k-images-idx3-ubyte\(gz)")
                ? try IDXDataset(images: "\(path)/t10k-images-idx3-ubyte\(gz)", labels: "\(path)/t10k-labels-idx1-ubyte\(gz)") : nil
            return (train, test)
        case .cifar10:
            let files = (1...5).map { "\(path)/data_batch_\($0).bin" }.filter { fm.fileExists(atPath: $0) }
            return (try CIFARDataset(files: files), has("test_batch.bin") ? try CIFARDataset(files: ["\(path)/test_batch.bin"]) : nil)
        case .cifar100:
            return (try CIFARDataset(files: ["\(path)/train.bin"], hundred: true),
                    has("test.bin") ? try CIFARDataset(files: ["\(path)/test.bin"], hundred: true) : nil)
        case .folder, .auto:
            if let validationPath {
                return (try ImageFolder(root: path, channels: channels, minShortSide: minShortSide),
                        try ImageFolder(root: validationPath, channels: channels, minShortSide: minShortSide))
            }
            // train/ with val/, or with test/ as CIFAR-10's public folder mirrors ship it.
            if has("train"), let held = ["val", "test"].first(where: has) {
                let train = try ImageFolder(root: path + "/train", channels: channels, minShortSide: minShortSide)
                let validation = try ImageFolder(root: path + "/" + held, channels: channels, minShortSide: minShortSide)
                guard validation.classes == train.classes else {
                    throw DataError(path + "/" + held, "class folders \(validation.classes) differ from train/'s \(train.classes)")
                }
                return (train, validation)
            }
            return (try ImageFolder(root: path, channels: channels, minShortSide: minShortSide), nil)
        }
    }
}
