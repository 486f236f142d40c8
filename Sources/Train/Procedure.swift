/// One step of the paper's procedure: what it sets, the first recipe that includes it, and what
/// the ablation needs to know of it. `Procedure.steps` is the one list that both the recipes
/// (`Recipe.apply`: every step up to the recipe) and the ablation's rows (`Ablation.rows`: the
/// steps with `inAblation`, cumulatively) are read from.
public struct ProcedureStep: Sendable {
    /// As the ablation's table names the row ("+ LR warmup").
    public let name: String
    /// The first recipe that includes the step (the later ones include it too); nil where only
    /// the ablation takes it (the 4x batch: a recipe uses the user's -b; distillation: --teacher).
    public let recipe: Recipe?
    /// Whether `tricks ablate` trains it as a row.
    public let inAblation: Bool
    /// Regularises, or starts the network as a shallower one: pays only in long training, so the
    /// ablation warns when the epochs are few.
    public let paysInLongTraining: Bool
    /// Trains at 4x the batch: the ablation warns when that leaves few optimiser steps.
    public let largeBatch: Bool
    /// Needs `--teacher` (distillation): without one the ablation skips the row.
    public let needsTeacher: Bool
    public let apply: @Sendable (inout TrainConfig) -> Void

    public init(_ name: String, recipe: Recipe?, inAblation: Bool = true, paysInLongTraining: Bool = false, largeBatch: Bool = false,
                needsTeacher: Bool = false, apply: @escaping @Sendable (inout TrainConfig) -> Void) {
        (self.name, self.recipe, self.inAblation, self.paysInLongTraining, self.largeBatch, self.needsTeacher, self.apply)
            = (name, recipe, inAblation, paysInLongTraining, largeBatch, needsTeacher, apply)
    }
}

public enum Procedure {
    /// Sections 2-5 in the paper's order (Tables 4-6), then what `strong` adds beyond the paper.
    /// The plug-in tricks (`TrickRegistry.registered`) join with their own recipe and row.
    public static let steps: [ProcedureStep] = [
        ProcedureStep("baseline", recipe: .baseline) { c in
            c.learningRate = .per256(0.1)  // linear scaling from the start: the rate follows the user's -b
            c.schedule = .step
            c.initializer = .xavierUniform
        },
        ProcedureStep("+ linear scaling, 4x batch", recipe: nil, largeBatch: true) { $0.batchSize *= 4 },
        ProcedureStep("+ LR warmup", recipe: .efficient) { $0.warmupEpochs = Recipe.warmup(epochs: $0.epochs) },
        ProcedureStep("+ zero gamma", recipe: .efficient, paysInLongTraining: true) { $0.zeroGamma = true },
        ProcedureStep("+ no bias decay", recipe: .efficient) { $0.noBiasDecay = true },
        // The paper's FP16; bf16 where the CPU computes in it natively.
        ProcedureStep("+ low precision", recipe: .efficient) { $0.precision = TrainingPrecision(Recipe.lowPrecision(on: $0.computeDevice)) },
        ProcedureStep("+ ResNet-D", recipe: .tweaked) { $0.model = resnetD($0.model) },
        ProcedureStep("+ cosine decay", recipe: .full) { $0.schedule = .cosine },
    ] + TrickRegistry.registered.filter { $0.recipe != nil || $0.inAblation }.map { trick in
        ProcedureStep("+ \(trick.name)", recipe: trick.recipe, inAblation: trick.inAblation, paysInLongTraining: trick.paysInLongTraining,
                      needsTeacher: trick.needsTeacher, apply: trick.enable)
    } + [
        ProcedureStep("+ CutMix", recipe: .strong, inAblation: false) { $0[Mixup.cutmixAlpha] = 1 },  // alternating with mixup
    ]
}
