import Tensors

/// Counts multiply-accumulates during `measure`: those of convolutions and fully connected
/// layers, and one per summed element of average pooling (what the paper's tables call
/// FLOPs: ResNet-50 at 224x224, 3.8G; ResNet-D's average-pool shortcut makes it slightly more
/// than ResNet-C). Max pooling, BatchNorm and ReLU are not counted. Outside `measure`, `add`
/// does nothing.
public final class MACCounter: @unchecked Sendable {
    @TaskLocal static var current: MACCounter?
    private var total = 0

    public static func add(_ macs: Int) { current?.total += macs }

    /// Runs `body` and returns how many multiply-accumulates the layers in it did.
    public static func measure(_ body: () throws -> Void) rethrows -> Int {
        let counter = MACCounter()
        try $current.withValue(counter) { try body() }
        return counter.total
    }
}

/// Global average pooling ([N, C, H, W] -> [N, C, 1, 1]), counted by `MACCounter`.
public func globalAveragePool(_ x: Tensor) throws -> Tensor {
    MACCounter.add(x.count)
    return try globalAvgPool2d(x)
}
