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

    /// Every step of `Procedure.steps` that this recipe or an earlier one includes.
    public func apply(to c: inout TrainConfig) {
        c.recipe = self
        for step in Procedure.steps where step.recipe?.isPart(of: self) ?? false { step.apply(&c) }
    }

    /// Whether `recipe` includes what this one adds: it is this recipe or a later one.
    func isPart(of recipe: Recipe) -> Bool {
        Recipe.allCases.firstIndex(of: self)! <= Recipe.allCases.firstIndex(of: recipe)!
    }

    /// What the recipe adds to the one before, for `tricks recipes`: the names of its steps in
    /// `Procedure.steps`, and a note on what they mean here.
    public var summary: String {
        let index = Recipe.allCases.firstIndex(of: self)!
        let steps = Procedure.steps.filter { $0.recipe == self && $0.name != "baseline" }.map { String($0.name.dropFirst(2)) }
        let added = index == 0 ? "" : "\(Recipe.allCases[index - 1].rawValue) + \(steps.joined(separator: ", ")); "
        return added + note
    }

    var note: String {
        switch self {
        case .baseline: "lr 0.1 per 256 images (linear scaling: the rate follows the batch, so a larger -b is section 3's large-batch training), step schedule (/10 at 50% and 75%), Xavier init, FP32"
        case .efficient: "warmup over 5/120 of the epochs (at least 1); low precision is bf16 where the CPU computes in it (AVX-512 BF16), else the paper's FP16 (emulated, with loss scaling)"
        case .tweaked: "the model's d variant"
        case .full: "label smoothing 0.1, mixup alpha 0.2; distillation when --teacher is given"
        case .strong: "RandAugment m9-n2, random erasing 0.25, CutMix alpha 1.0 in half the mixed batches (not in the paper)"
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
