/// Named presets of the paper's procedures, applied to a config before flags override them.
public enum Recipe: String, SettingChoice {
    /// Section 2: step schedule, Xavier init, FP32, lr 0.1 per 256 images.
    case baseline
    /// + section 3: warmup, zero-gamma, no bias decay, low precision (the large batch is the
    /// user's -b: the baseline already scales the learning rate with it)
    /// (bf16 where the CPU computes in it natively, else the paper's FP16, emulated).
    case efficient
    /// + section 4: ResNet-D.
    case tweaked
    /// + section 5: cosine decay, label smoothing 0.1, mixup 0.2 (and distillation when a teacher is given).
    case full
    /// Beyond the paper, what timm users reach for: full + RandAugment m9-n2, random erasing
    /// 0.25, CutMix 1.0 alternating with mixup.
    case strong

    /// The paper's 5 warmup epochs out of 120, at least 1 and at most half the run.
    static func warmup(epochs: Int) -> Double { min(max(1, Double(epochs) * 5 / 120), Double(epochs) / 2) }

    public func apply(to c: inout TrainConfig) {
        c.recipe = self
        c.learningRate = .per256(0.1)
        c.schedule = .step
        c.initializer = .xavierUniform
        guard self != .baseline else { return }
        c.warmupEpochs = Recipe.warmup(epochs: c.epochs)
        c.zeroGamma = true
        c.noBiasDecay = true
        c.precision = TrainingPrecision(Recipe.lowPrecision(on: c.computeDevice))
        guard self != .efficient else { return }
        c.model = resnetD(c.model)
        guard self != .tweaked else { return }
        c.schedule = .cosine
        for trick in TrickRegistry.registered where trick.inFullRecipe { trick.enable(&c) }  // smoothing 0.1, mixup 0.2
        guard self != .full else { return }
        AutoAugment.registration.enable(&c)  // RandAugment m9-n2
        RandomErasing.registration.enable(&c)  // 0.25
        c[Mixup.cutmixAlpha] = 1
    }

    /// What the recipe sets, for `tricks recipes`.
    public var summary: String {
        switch self {
        case .baseline: "lr 0.1 per 256 images (linear scaling: the rate follows the batch, so a larger -b is section 3's large-batch training), step schedule (/10 at 50% and 75%), Xavier init, FP32"
        case .efficient: "baseline + warmup (5/120 of the epochs, at least 1), zero-gamma, no bias decay, low precision: bf16 where the CPU computes in it (AVX-512 BF16), else the paper's FP16 (emulated, with loss scaling)"
        case .tweaked: "efficient + ResNet-D (the model's d variant)"
        case .full: "tweaked + cosine decay, label smoothing 0.1, mixup alpha 0.2; distillation when --teacher is given"
        case .strong: "full + RandAugment m9-n2, random erasing 0.25, CutMix alpha 1.0 (half the mixed batches; not in the paper)"
        }
    }
}

/// "cifar_resnet20" -> "cifar_resnet20d"; "resnet50a" -> "resnet50d"; GluonCV's "resnet50_v1b" ->
/// "resnet50d"; other models unchanged.
func resnetD(_ model: String) -> String {
    guard model.contains("resnet") else { return model }
    var base = Substring(model)
    if let range = base.range(of: "_v1") {
        base = base[..<range.lowerBound]
    } else if let last = base.last, "abcd".contains(last) {
        base = base.dropLast()
    }
    return base + "d"
}
