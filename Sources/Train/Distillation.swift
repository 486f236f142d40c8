import Foundation
import Tensors

/// Knowledge distillation (section 5.3): with student logits z, teacher logits r and target
/// distribution p,
///   loss = CE(p, softmax(z)) + weight * T^2 * CE(softmax(r / T), softmax(z / T)).
/// The teacher's logits carry no gradient; `targets` may be smoothed or mixed.
public func distillationLoss(student z: Tensor, teacher r: Tensor, targets: Tensor, temperature t: Double, weight: Double = 1) throws -> Tensor {
    guard r.shape == z.shape else {
        throw TrainError("--teacher", "teacher gives \(r.shape) logits, student \(z.shape): they must share the classes")
    }
    let hard = try crossEntropy(z, target: targets)
    let teacherProbabilities = try GradMode.withoutGradient { () -> Tensor in
        let logProbabilities = try logSoftmax(scale(r.detached(), by: Float(1 / t))).scalars
        return try Tensor(shape: r.shape, scalars: logProbabilities.map { Float(exp(Double($0))) }, device: z.device)
    }
    let soft = try crossEntropy(scale(z, by: Float(1 / t)), target: teacherProbabilities)
    return try add(hard, scale(soft, by: Float(weight * t * t)))
}
