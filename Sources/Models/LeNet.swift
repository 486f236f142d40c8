import NN
import Tensors

/// LeNet-5 (LeCun et al. 1998) as PyTorch tutorials write it for 28x28 images (MNIST,
/// Fashion-MNIST): conv 5x5 (6, padding 2) + ReLU + max-pool 2, conv 5x5 (16) + ReLU +
/// max-pool 2, then fully connected 400 -> 120 -> 84 -> classes. No BatchNorm: the model the
/// data-parallel tests use to compare N processes with one exactly. 61,706 parameters for
/// one channel and 10 classes.
public final class LeNet5: Module {
    let features: Sequential
    let classifier: Sequential

    public init(classes: Int = 10, inputChannels: Int = 1) throws {
        features = Sequential([
            try Conv2d(inputChannels, 6, kernel: 5, padding: 2, bias: true), ReLU(), MaxPool2d(kernel: 2, stride: 2),
            try Conv2d(6, 16, kernel: 5, bias: true), ReLU(), MaxPool2d(kernel: 2, stride: 2),
        ])
        classifier = Sequential([try Linear(16 * 5 * 5, 120), ReLU(), try Linear(120, 84), ReLU(), try Linear(84, classes)])
    }

    override public var children: [(String, Module)] { [("features", features), ("classifier", classifier)] }

    override public func forward(_ x: Tensor) throws -> Tensor {
        let f = try features(x)
        guard f.shape.count == 4, f.shape[2] == 5, f.shape[3] == 5 else {
            throw OpError(op: "lenet5", "takes 28x28 images, got input \(x.shape)")
        }
        return try classifier(flatten(f))
    }
}
