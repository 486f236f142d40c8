import Data
import Tensors

/// RandAugment (`--randaugment m9-n2`) and TrivialAugmentWide (`--trivialaugment wide`) as
/// plug-ins: per-image augmentations the loader runs after the crop and flip (torchvision's
/// operations, `Sources/Data/AutoAugment.swift`). Not among the paper's tricks; the `strong`
/// recipe uses RandAugment.
public enum AutoAugment {
    public static let randAugment = Setting<String>(key: "randAugment", flag: "randaugment", default: "",
                                                    help: "RandAugment policy, e.g. m9-n2 (magnitude 9 of 30, 2 operations per image); empty: off.")
    public static let trivialAugment = Setting<String>(key: "trivialAugment", flag: "trivialaugment", default: "",
                                                       help: "wide: TrivialAugmentWide (one operation at a random magnitude per image); empty: off.")

    public static let registration = TrickRegistration(
        name: "auto-augment", settings: [randAugment, trivialAugment], recipe: .strong, inAblation: false,  // RandAugment m9-n2
        validate: { c in
            if !c[randAugment].isEmpty && RandAugment(policy: c[randAugment]) == nil {
                throw TrainError("--randaugment", "expected a policy such as m9-n2 (magnitude 0-30, operations n), got \(c[randAugment])")
            }
            guard ["", "wide"].contains(c[trivialAugment]) else { throw TrainError("--trivialaugment", "must be wide (or empty), got \(c[trivialAugment])") }
            guard c[randAugment].isEmpty || c[trivialAugment].isEmpty else {
                throw TrainError("--randaugment", "and --trivialaugment are two policies; choose one")
            }
        },
        enable: { $0[randAugment] = "m9-n2" },
        augmentation: { c in
            if let policy = RandAugment(policy: c[randAugment]), !c[randAugment].isEmpty { return policy }
            return c[trivialAugment] == "wide" ? TrivialAugmentWide() : nil
        })
}
