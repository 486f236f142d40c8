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
