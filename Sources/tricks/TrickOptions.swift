import ArgumentParser
import Train

/// The paper's tricks as flags (each off unless a recipe or the flag turns it on).
struct TrickOptions: ParsableArguments {
    @Option(help: "Start from a preset: baseline, efficient, tweaked or full (see `tricks recipes`); other flags override it.")
    var recipe: String?

    @Option(name: .customLong("lr-per-256"), help: "Linear scaling: LR per 256 images, scaled by the batch size (the paper: 0.1).")
    var lrPer256: Double?

    @Flag(inversion: .prefixedNo, help: "Zero-gamma: start each residual block's last BatchNorm gamma at 0.")
    var zeroGamma: Bool?

    @Flag(name: .customLong("no-bias-decay"), help: "No bias decay: weight decay on conv and FC weights only.")
    var noBiasDecay = false

    @Flag(name: .customLong("bias-decay"), help: "Decay biases and BatchNorm parameters too (undoes a recipe's --no-bias-decay).")
    var biasDecay = false

    @Option(help: "Micro-batches per step (gradient accumulation; must divide the batch size).")
    var accumulation: Int?

    @Option(help: "fp32, fp16 or bf16 (16-bit rounding of weights, activations and gradients, FP32 master weights, dynamic loss scaling).")
    var precision: String?

    @Option(name: .customLong("smoothing"), help: "Label smoothing eps (the paper: 0.1).")
    var labelSmoothing: Double?

    @Option(name: .customLong("smoothing-formula"), help: "paper (eps/(K-1) to the other classes) or timm (eps/K).")
    var smoothingFormula: String?

    @Option(name: .customLong("mixup"), help: "Mixup alpha (the paper: 0.2); 0 turns it off.")
    var mixupAlpha: Double?

    @Option(name: .customLong("mixup-off-epoch"), help: "Stop mixup after this many epochs.")
    var mixupOffEpoch: Int?

    @Option(help: "Teacher weights (a `tricks train` checkpoint) for knowledge distillation.")
    var teacher: String?

    @Option(help: "Distillation temperature T.")
    var temperature: Double?

    @Option(name: .customLong("distill-weight"), help: "Weight of the distillation term.")
    var distillWeight: Double?

    func applyRecipe(to c: inout TrainConfig) throws {
        guard let recipe else { return }
        guard let preset = Recipe(rawValue: recipe) else {
            throw ValidationError("--recipe: unknown recipe '\(recipe)'; choose from \(Recipe.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        preset.apply(to: &c)
    }

    func apply(to c: inout TrainConfig) {
        if let lrPer256 { c.lrPer256 = lrPer256 }
        if let zeroGamma { c.zeroGamma = zeroGamma }
        if noBiasDecay { c.noBiasDecay = true }
        if biasDecay { c.noBiasDecay = false }
        if let accumulation { c.accumulation = accumulation }
        if let precision { c.precision = precision }
        if let labelSmoothing { c.labelSmoothing = labelSmoothing }
        if let smoothingFormula, let formula = SmoothingFormula(rawValue: smoothingFormula) { c.smoothingFormula = formula }
        if let mixupAlpha { c.mixupAlpha = mixupAlpha }
        if let mixupOffEpoch { c.mixupOffEpoch = mixupOffEpoch }
        if let teacher { c.teacher = teacher }
        if let temperature { c.distillTemperature = temperature }
        if let distillWeight { c.distillWeight = distillWeight }
    }
}

struct RecipesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "recipes", abstract: "The named presets of --recipe, and the settings each gives.")

    @Option(help: "Model the recipes are applied to.")
    var model = "cifar_resnet20"

    @Option(help: "Epochs (the warmup length depends on them).")
    var epochs = 5

    func run() throws {
        for recipe in Recipe.allCases {
            var c = TrainConfig()
            c.model = model
            c.epochs = epochs
            recipe.apply(to: &c)
            print("\(recipe.rawValue): \(recipe.summary)")
            print("  model \(c.model), lr \(c.lrPer256!) per 256, sched \(c.schedule), warmup \(c.warmupEpochs) epochs, zero-gamma \(c.zeroGamma), "
                  + "no bias decay \(c.noBiasDecay), precision \(c.precision), smoothing \(c.labelSmoothing), mixup \(c.mixupAlpha)")
        }
    }
}
