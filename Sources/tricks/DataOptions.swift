import ArgumentParser
import Data

/// Where the images come from: shared by train, eval and stats.
struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Dataset: 'fashion-mnist' (built in; the default), \(DataSource.expectedFolders).", valueName: "folder"))
    var data: String?

    @Option(help: "auto (from the files the folder holds), folder, idx, cifar10 or cifar100 (default: auto).")
    var format: DataSource.Format?

    @Option(name: .customLong("val-data"), help: "Validation image folder.")
    var validationData: String?

    @Option(name: .customLong("val-split"), help: "Hold out this fraction of the training set for validation (when there is no validation set).")
    var validationSplit: Double?

    @Option(help: "Image-folder channels: 3 (RGB) or 1 (grey) (default: 3; eval and predict: the model's).")
    var channels: Int?

    /// Folders given are recorded from the root (a run's config.json, a checkpoint's state), so
    /// that `eval` and `--resume` find them from any working directory.
    func apply(to source: inout DataSource) {
        if let data { source.path = data == DataSource.builtIn ? data : DataSource.absolute(data) }
        if let format { source.format = format }
        if let validationData { source.validationPath = DataSource.absolute(validationData) }
        if let validationSplit { source.validationSplit = validationSplit }
        if let channels { source.channels = channels }
    }

    var source: DataSource {
        var source = DataSource()
        apply(to: &source)
        return source
    }

    var description: String { source.path }

    /// The training images for `tricks stats`: all of them, or what `--val-split` leaves
    /// (`--val-split 0`: all).
    func trainingSet() throws -> any Dataset {
        guard let split = source.validationSplit, split != 0 else { return try source.trainingImages() }
        return try source.load().train
    }
}

extension DataSource.Format: ExpressibleByArgument {}

/// "72.9,90.0" -> [72.9, 90.0].
struct FloatList: ExpressibleByArgument {
    var values: [Float]
    init?(argument: String) {
        let parts = argument.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        values = parts.map { $0! }
    }
}
