import ArgumentParser
import Tensors
import Train

/// The paper's tricks as flags (each off unless a recipe or the flag turns it on).
struct TrickOptions: ParsableArguments {
    @Option(help: "Start from a preset: baseline, efficient, tweaked, full or strong (see `tricks recipes`); other flags override it.")
    var recipe: Recipe?

    @Option(name: .customLong("lr-per-256"), parsing: .unconditional, help: "Linear scaling: LR per 256 images, scaled by the batch size (the paper: 0.1).")
    var lrPer256: Double?

    @Flag(inversion: .prefixedNo, help: "Zero-gamma: start each residual block's last BatchNorm gamma at 0.")
    var zeroGamma: Bool?

    @Flag(name: .customLong("no-bias-decay"), help: "No bias decay: weight decay on conv and FC weights only.")
    var noBiasDecay = false

    @Flag(name: .customLong("bias-decay"), help: "Decay biases and BatchNorm parameters too (undoes a recipe's --no-bias-decay).")
    var biasDecay = false

    @Option(parsing: .unconditional, help: "Micro-batches per step (gradient accumulation; must divide the batch size).")
    var accumulation: Int?

    @Option(help: "fp32, bf16 or fp16. bf16 runs oneDNN's bf16 kernels where the CPU has AVX-512 BF16 (FP32 master weights, no loss scaling); elsewhere, and fp16 always, it is emulated: FP32 kernels with results rounded to 16 bits, FP32 master weights, dynamic loss scaling (slower than fp32). Default: fp32.")
    var precision: TrainingPrecision?

    /// The plug-in tricks' flags (`--smoothing 0.1`, `--mixup=0.2`, `--teacher PATH`): whatever
    /// ArgumentParser does not know, read against `TrickRegistry.registered` (listed in `--help`).
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Plug-in tricks (Sources/Train/Tricks), each flag also a config-file key:",
                                                            discussion: TrickRegistry.help(), valueName: "plug-in flags"))
    var pluginArguments: [String] = []

    func apply(to c: inout TrainConfig) throws {
        if let lrPer256 { c.learningRate = .per256(lrPer256) }
        if let zeroGamma { c.zeroGamma = zeroGamma }
        if noBiasDecay { c.noBiasDecay = true }
        if biasDecay { c.noBiasDecay = false }
        if let accumulation { c.accumulation = accumulation }
        if let precision { c.precision = precision }
        try applyPlugins(to: &c)
    }

    /// `--flag value` or `--flag=value` for each plug-in setting; anything else is an error
    /// naming it.
    func applyPlugins(to c: inout TrainConfig) throws {
        var rest = pluginArguments[...]
        while let argument = rest.popFirst() {
            guard argument.hasPrefix("--") else { throw CommandError("unexpected argument '\(argument)'") }
            var flag = String(argument.dropFirst(2)), value: String?
            if let equals = flag.firstIndex(of: "=") {
                value = String(flag[flag.index(after: equals)...])
                flag = String(flag[..<equals])
            }
            guard let setting = TrickRegistry.setting(flag: flag) else { throw CommandError("unknown option '--\(flag)' (see --help)") }
            guard let text = value ?? rest.popFirst() else { throw CommandError("missing value for '--\(flag)'") }
            guard let parsed = setting.parse(text) else { throw CommandError("--\(flag): cannot read '\(text)' (\(setting.help))") }
            c.trickSettings[setting.key] = setting.isDefault(parsed) ? nil : parsed
        }
    }
}

struct RecipesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "recipes", abstract: "The named presets of --recipe, and the settings each gives.")

    @Option(help: "Model the recipes are applied to.")
    var model = "cifar_resnet20"

    @Option(help: "Epochs (the warmup length depends on them).")
    var epochs = 5

    func run() throws {
        print("low precision of the recipes on this machine: \(Recipe.lowPrecision(on: .cpu).flagName) (\(PrecisionPath.choose(Recipe.lowPrecision(on: .cpu), on: .cpu)))")
        for recipe in Recipe.allCases {
            var c = TrainConfig()
            c.model = model
            c.epochs = epochs
            recipe.apply(to: &c)
            print("\(recipe.rawValue): \(recipe.summary)")
            let plugins = TrickRegistry.settings.compactMap { s in c.trickSettings[s.key].map { "\(s.flag) \($0.description)" } }
            print("  model \(c.model), lr \(c.learningRate), sched \(c.schedule), warmup \(c.warmupEpochs) epochs, zero-gamma \(c.zeroGamma), "
                  + "no bias decay \(c.noBiasDecay), precision \(c.precision)" + plugins.map { ", " + $0 }.joined())
        }
    }
}
