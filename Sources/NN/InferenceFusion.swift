import Glibc
import Tensors

/// Evaluation's convolutions: BatchNorm folded into the convolution before it, the residual add
/// and the ReLU/ReLU6 after it run as one kernel (`inferenceConv2d`), the weights prepared once.
/// Models ask `Conv2d.inference(...)` first and run their training-shaped code where it says
/// no: in training, while gradients are recorded, and while an exporter traces the pass.
public enum InferenceFusion {
    /// On unless a test or a benchmark turns it off to compare with the unfused pass, or
    /// `TRICKS_INFERENCE_FUSION=0` does for a whole run (to time or check the unfused pass).
    @TaskLocal public static var enabled = getenv("TRICKS_INFERENCE_FUSION").map { String(cString: $0) != "0" } ?? true

    /// Runs `body` with fusion on or off.
    public static func with<T>(_ on: Bool, _ body: () throws -> T) rethrows -> T {
        try $enabled.withValue(on, operation: body)
    }
}

/// Conv2d's folded weights and the parameter versions they were made from.
final class FoldedConvolution {
    var sources: [ObjectIdentifier] = []
    var versions: [Int] = []
    var weights: KernelWeights?
}

extension Conv2d {
    /// `activation(bn(conv(x)) + residual)` as one fused inference kernel, or nil where the
    /// training-shaped pass must run (see `InferenceFusion`). `bn` must follow this conv.
    public func inference(_ x: Tensor, _ bn: BatchNorm2d, residual: Tensor? = nil, activation: FusedActivation = .none) throws -> Tensor? {
        guard fusesInference(bn, input: x) else { return nil }
        let weights = try foldedWeights(bn)
        let y = try inferenceConv2d(x, weights: weights, stride: stride, padding: padding, dilation: dilation, groups: groups,
                                    residual: residual, activation: activation)
        MACCounter.add(y.count / y.shape[1] * weight.count)
        return y
    }

    /// Whether `inference` runs the fused kernel for this input (else it returns nil).
    public func fusesInference(_ bn: BatchNorm2d, input x: Tensor) -> Bool {
        InferenceFusion.enabled && !isTraining && !bn.isTraining && !OpTrace.isRecording
            && !(GradMode.enabled && (weight.requiresGrad || x.requiresGrad))
    }

    /// w' = w x gamma / sqrt(var + eps) per output channel, b' = beta + (b - mean) x gamma / sqrt(var + eps),
    /// computed again when any of them changed since.
    func foldedWeights(_ bn: BatchNorm2d) throws -> KernelWeights {
        let tensors = [weight, bias, bn.weight, bn.bias, bn.runningMean, bn.runningVar].compactMap { $0 }
        let sources = tensors.map(\.storageIdentity), versions = tensors.map(\.version)
        if let made = folded.weights, folded.sources == sources, folded.versions == versions { return made }
        let (w, gamma, beta, mean, variance) = (try weight.scalars, try bn.weight.scalars, try bn.bias.scalars,
                                                try bn.runningMean.scalars, try bn.runningVar.scalars)
        let b = try bias?.scalars ?? [Float](repeating: 0, count: gamma.count)
        let perChannel = w.count / gamma.count
        var foldedWeight = [Float](repeating: 0, count: w.count), foldedBias = [Float](repeating: 0, count: gamma.count)
        for o in 0..<gamma.count {
            let scale = Double(gamma[o]) / (Double(variance[o]) + Double(bn.eps)).squareRoot()
            for i in o * perChannel..<(o + 1) * perChannel { foldedWeight[i] = Float(Double(w[i]) * scale) }
            foldedBias[o] = Float(Double(beta[o]) + (Double(b[o]) - Double(mean[o])) * scale)
        }
        let newWeight = try Tensor(shape: weight.shape, scalars: foldedWeight, device: weight.device)
        let newBias = try Tensor(shape: [gamma.count], scalars: foldedBias, device: weight.device)
        let made = KernelWeights(weight: newWeight, bias: newBias)
        (folded.weights, folded.sources, folded.versions) = (made, sources, versions)
        return made
    }
}
