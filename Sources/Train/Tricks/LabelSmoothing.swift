import Tensors

/// How label smoothing spreads eps over the classes (section 5.2).
public enum SmoothingFormula: String, Codable, Sendable, CaseIterable {
    /// The paper: 1 - eps for the true class, eps / (K - 1) for each other class.
    case paper
    /// GluonCV and timm: 1 - eps + eps / K for the true class, eps / K for the others.
    case timm
}

/// Target distributions [N, K] for integer labels, smoothed with `eps` (0: one-hot).
public func smoothedTargets(_ labels: [Int], classes k: Int, eps: Double, formula: SmoothingFormula = .paper) throws -> [Float] {
    guard k >= 2 else { throw TrainError("label smoothing", "needs at least 2 classes, got \(k)") }
    let (other, top): (Double, Double) = formula == .paper ? (eps / Double(k - 1), 1 - eps) : (eps / Double(k), 1 - eps + eps / Double(k))
    var values = [Float](repeating: Float(other), count: labels.count * k)
    for (i, label) in labels.enumerated() {
        guard (0..<k).contains(label) else { throw TrainError("label smoothing", "label \(label) outside 0..<\(k)") }
        values[i * k + label] = Float(top)
    }
    return values
}

/// Label smoothing as a plug-in: replaces one-hot targets with smoothed ones.
public enum LabelSmoothing {
    public static let eps = Setting<Double>(key: "labelSmoothing", flag: "smoothing", default: 0,
                                            help: "Label smoothing eps (the paper: 0.1).")
    public static let formula = Setting<String>(key: "smoothingFormula", flag: "smoothing-formula", default: SmoothingFormula.paper.rawValue,
                                                help: "paper (eps/(K-1) to the other classes) or timm (eps/K).")

    public static let registration = TrickRegistration(
        name: "label smoothing", settings: [eps, formula], paysInLongTraining: true,
        validate: { c in
            guard c[eps] >= 0, c[eps] < 1 else { throw TrainError("--smoothing", "must be in [0, 1), got \(c[eps])") }
            guard SmoothingFormula(rawValue: c[formula]) != nil else {
                throw TrainError("--smoothing-formula", "must be paper or timm, got \(c[formula])")
            }
        },
        enable: { $0[eps] = 0.1 },
        make: { c, _ in c[eps] > 0 ? Hook(eps: c[eps], formula: SmoothingFormula(rawValue: c[formula]) ?? .paper) : nil })

    final class Hook: TrainingTrick {
        let eps: Double, formula: SmoothingFormula
        init(eps: Double, formula: SmoothingFormula) { (self.eps, self.formula) = (eps, formula) }

        func targets(_ targets: inout [Float], labels: [Int], classes: Int) throws {
            targets = try smoothedTargets(labels, classes: classes, eps: eps, formula: formula)
        }
    }
}
