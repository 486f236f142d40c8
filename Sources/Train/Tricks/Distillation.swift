import Foundation
import NN
import Tensors

/// Knowledge distillation (section 5.3): with student logits z, teacher logits r and target
/// distribution p,
///   loss = CE(p, softmax(z)) + weight * T^2 * CE(softmax(r / T), softmax(z / T)).
/// The teacher's logits carry no gradient; `targets` may be smoothed or mixed.
///
/// The soft term is computed as the paper writes it but reported less the teacher's entropy
/// H(softmax(r / T)), which is the KL divergence PyTorch's `kl_div` gives. The teacher is fixed,
/// so the gradient is the same; the value is not: at T = 20 the teacher's distribution is nearly
/// flat, and the cross-entropy alone would add about T^2 log K (921 for 10 classes) to every
/// logged loss, hiding how well the student follows the teacher. The KL is 0 when it matches.
public func distillationLoss(student z: Tensor, teacher r: Tensor, targets: Tensor, temperature t: Double, weight: Double = 1) throws -> Tensor {
    guard r.shape == z.shape else {
        throw TrainError("--teacher", "teacher gives \(r.shape) logits, student \(z.shape): they must share the classes")
    }
    let hard = try crossEntropy(z, target: targets)
    let (teacherProbabilities, teacherEntropy) = try GradMode.withoutGradient { () -> (Tensor, Double) in
        let logProbabilities = try logSoftmax(scale(r.detached(), by: Float(1 / t))).scalars.map(Double.init)
        let probabilities = logProbabilities.map { exp($0) }
        let entropy = -zip(probabilities, logProbabilities).reduce(0) { $0 + $1.0 * $1.1 } / Double(r.shape[0])
        return (try Tensor(shape: r.shape, scalars: probabilities.map(Float.init), device: z.device), entropy)
    }
    let crossEntropyToTeacher = try crossEntropy(scale(z, by: Float(1 / t)), target: teacherProbabilities)
    let soft = try add(crossEntropyToTeacher, Tensor(shape: [1], scalars: [Float(-teacherEntropy)], device: z.device))
    return try add(hard, scale(soft, by: Float(weight * t * t)))
}

/// Knowledge distillation as a plug-in: loads the teacher (on the training device, in eval
/// mode) and replaces the loss.
public enum Distillation {
    public static let teacher = OptionalSetting<String>(key: "teacher", flag: "teacher",
                                                        help: "Teacher weights (a `tricks train` checkpoint) for knowledge distillation.")
    public static let temperature = Setting<Double>(key: "distillTemperature", flag: "temperature", default: 20,
                                                    help: "Distillation temperature T.")
    public static let weight = Setting<Double>(key: "distillWeight", flag: "distill-weight", default: 1,
                                               help: "Weight of the distillation term.")

    public static let registration = TrickRegistration(
        name: "distillation", settings: [teacher, temperature, weight], recipe: nil, needsTeacher: true,
        validate: { c in
            guard c[temperature] > 0 else { throw TrainError("--temperature", "must be positive, got \(c[temperature])") }
        },
        enable: { _ in },  // needs a teacher: `tricks ablate --teacher`
        make: { c, context in
            guard let path = c[teacher] else { return nil }
            let (model, info) = try Device.with(context.device) { try Checkpoint.loadModel(path) }
            guard info.classes.count == context.classes, info.inputChannels == context.inputChannels else {
                throw TrainError(path, "teacher has \(info.classes.count) classes and \(info.inputChannels) channels; "
                                 + "the data has \(context.classes) and \(context.inputChannels)")
            }
            return Hook(teacher: model, temperature: c[temperature], weight: c[weight])
        })

    final class Hook: TrainingTrick {
        let teacher: Module, temperature: Double, weight: Double
        init(teacher: Module, temperature: Double, weight: Double) { (self.teacher, self.temperature, self.weight) = (teacher, temperature, weight) }

        func loss(logits: Tensor, images: Tensor, target: Tensor) throws -> Tensor? {
            let teacherLogits = try GradMode.withoutGradient { try teacher(images) }
            return try distillationLoss(student: logits, teacher: teacherLogits, targets: target, temperature: temperature, weight: weight)
        }
    }
}
