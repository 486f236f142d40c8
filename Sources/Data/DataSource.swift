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

    /// What --data may name, for help and errors.
    public static let expectedFolders = "a folder of class folders of JPEG/PNG images (or with train/ and val/ or test/ inside), "
        + "a folder of MNIST IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...), "
        + "a folder of CIFAR-10 binaries (data_batch_1.bin ... data_batch_5.bin, test_batch.bin) or CIFAR-100's (train.bin, test.bin)"

    /// `path` from the root, without `.`, `..` or doubled slashes: what a run records, so that
    /// `eval` and `--resume` find the data from any working directory.
    public static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// This source with its folders as absolute paths (the built-in data keeps its name).
    public var absolute: DataSource {
        var copy = self
        if path != DataSource.builtIn { copy.path = DataSource.absolute(path) }
        copy.validationPath = validationPath.map(DataSource.absolute)
        return copy
    }

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
        let kept = Subset(train, indices: (0..<train.count).filter { !heldSet.contains($0) })
        guard kept.count > 0 else {
            throw DataError("--val-split", "\(split) of \(path)'s \(train.count) images holds out every one of them (at least one per class "
                            + "is held out): no training image is left; give more images, or a separate --val-data folder")
        }
        return (kept, held)
    }

    /// What `eval` scores: the validation set where the data has one (`validationPath`, val/ or
    /// test/ inside, the format's test split, or the `validationSplit` hold-out), else every
    /// image (a plain folder of class folders); `whole` says which.
    public func evaluationImages(minShortSide: Int? = nil) throws -> (images: any Dataset, whole: Bool) {
        if validationSplit != nil { return (try load(minShortSide: minShortSide).validation, false) }
        let (train, validation) = try loadSplits(minShortSide: minShortSide)
        return validation.map { ($0, false) } ?? (train, true)
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
        guard isDirectory.boolValue else {
            throw DataError(path, "is a file; --data takes a folder: \(DataSource.expectedFolders) (give the folder that holds this file)")
        }
        let fm = FileManager.default
        let has = { (name: String) in fm.fileExists(atPath: self.path + "/" + name) }
        var format = self.format
        if format == .auto {
            format = has("train-images-idx3-ubyte.gz") || has("train-images-idx3-ubyte") ? .idx
                : has("data_batch_1.bin") ? .cifar10 : has("train.bin") ? .cifar100 : .folder
        }
        switch format {
        case .idx:
            guard has("train-images-idx3-ubyte.gz") || has("train-images-idx3-ubyte") else {
                throw DataError(path, "has no MNIST IDX files: expected train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] "
                                + "(t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] for the test split)")
            }
            let gz = has("train-images-idx3-ubyte.gz") ? ".gz" : ""
            let train = try IDXDataset(images: "\(path)/train-images-idx3-ubyte\(gz)", labels: "\(path)/train-labels-idx1-ubyte\(gz)")
            let test = has("t10k-images-idx3-ubyte\(gz)")
                ? try IDXDataset(images: "\(path)/t10k-images-idx3-ubyte\(gz)", labels: "\(path)/t10k-labels-idx1-ubyte\(gz)") : nil
            return (train, test)
        case .cifar10:
            let files = (1...5).map { "\(path)/data_batch_\($0).bin" }.filter { fm.fileExists(atPath: $0) }
            guard !files.isEmpty else {
                throw DataError(path, "has no CIFAR-10 binary files: expected data_batch_1.bin ... data_batch_5.bin and test_batch.bin "
                                + "(the cifar-10-batches-bin folder of cifar-10-binary.tar.gz)")
            }
            return (try CIFARDataset(files: files), has("test_batch.bin") ? try CIFARDataset(files: ["\(path)/test_batch.bin"]) : nil)
        case .cifar100:
            guard has("train.bin") else {
                throw DataError(path, "has no CIFAR-100 binary files: expected train.bin and test.bin (the cifar-100-binary folder of cifar-100-binary.tar.gz)")
            }
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
