/// 2-D convolution, as PyTorch's `F.conv2d`: input [N, C, H, W], weight [O, C/groups, kh, kw],
/// optional bias [O]. `dilation` counts as in PyTorch (1 = dense).
///
/// Weights stay in PyTorch's plain layout (what the optimiser and checkpoints use); the
/// backend picks the activation layouts (oneDNN: nChw8c/nChw16c, so that a chain of
/// convolutions never reorders between layers).
///
/// Under `Autocast` on a backend with bfloat16 kernels, the input and a copy of the weights are
/// bfloat16 and so is the output (Float32 accumulation inside); the weight and bias gradients
/// stay Float32, like the parameters.
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil,
                   stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                   dilation: (Int, Int) = (1, 1), groups: Int = 1) throws -> Tensor {
    let backend = try commonDevice("conv2d", [input, weight, bias]).backend
    let geometry = try ConvGeometry(input: input.shape, weight: weight.shape, bias: bias?.shape,
                                    stride: stride, padding: padding, dilation: dilation, groups: groups,
                                    dataType: Autocast.computeType(on: backend))
    for t in [weight] + (bias.map { [$0] } ?? []) { try t.requireFloat32("conv2d") }
    let input = try input.cast(to: geometry.dataType)
    let recording = Tensor.recording([input, weight, bias])
    let (output, pullback) = try backend.conv2d(input, weight: weight, bias: bias, geometry: geometry, recording: recording)
    if let pullback { try output.record("conv2d", inputs: [input, weight] + (bias.map { [$0] } ?? []), backward: pullback) }
    OpTrace.record(.conv2d(stride: geometry.stride, padding: geometry.padding, dilation: geometry.dilation, groups: groups),
                   inputs: [input, weight, bias], output: output)
    return output
}

/// Shapes and settings of one convolution, checked once: what every backend's kernels get.
package struct ConvGeometry: Sendable {
    package let input: [Int], weight: [Int], output: [Int]
    package let hasBias: Bool
    /// Per axis (H, W); dilation counts as in PyTorch (1 = dense).
    package let stride: [Int], dilation: [Int], padding: [Int]
    package let groups: Int
    /// What the input, output and the kernel's copy of the weights hold (Float32, or bfloat16
    /// under `Autocast`); weights, bias and their gradients are Float32 either way.
    package let dataType: DataType

    package init(input: [Int], weight: [Int], bias: [Int]?, stride: (Int, Int), padding: (Int, Int),
         dilation: (Int, Int), groups: Int, dataType: DataType = .float32) throws {
        let shapes = "input \(input), weight \(weight)" + (bias.map { ", bias \($0)" } ?? "")
        func fail(_ why: String) -> OpError { OpError(op: "conv2d", "\(why) (\(shapes))") }
        guard input.count == 4 else { throw fail("input must be 4-D [N, C, H, W]") }
        guard weight.count == 4 else { throw fail("weight must be 4-D [O, C/groups, kh, kw]") }
        guard groups >= 1, weight[0] % groups == 0 else { throw fail("\(weight[0]) output channels are not divisible by groups=\(groups)") }
        guard input[1] == weight[1] * groups else {
            throw fail("input has \(input[1]) channels but weight expects \(weight[1] * groups) (\(weight[1]) per group x \(groups) groups)")
        }
        if let bias, bias != [weight[0]] { throw fail("bias must be [\(weight[0])]") }
        guard stride.0 > 0, stride.1 > 0, dilation.0 > 0, dilation.1 > 0, padding.0 >= 0, padding.1 >= 0 else {
            throw fail("stride \(stride) and dilation \(dilation) must be positive, padding \(padding) non-negative")
        }
        let kernel = [weight[2], weight[3]], size = [input[2], input[3]]
        let s = [stride.0, stride.1], p = [padding.0, padding.1], d = [dilation.0, dilation.1]
        let out: [Int] = (0..<2).map { i in
            slidingWindowCount(size: size[i], kernel: kernel[i], stride: s[i], padding: p[i], dilation: d[i])
        }
        guard out.allSatisfy({ $0 > 0 }) else { throw fail("kernel \(kernel) with dilation \(d) is larger than the padded input") }
        self.input = input
        self.weight = weight
        self.output = [input[0], weight[0]] + out
        hasBias = bias != nil
        self.stride = s
        self.padding = p
        self.dilation = d
        self.groups = groups
        self.dataType = dataType
    }

    package var shapes: String { "input \(input), weight \(weight), stride \(stride), padding \(padding), dilation \(dilation), groups \(groups)" }
}

/// How many positions a window takes along one axis (PyTorch's floor rule).
func slidingWindowCount(size: Int, kernel: Int, stride: Int, padding: Int, dilation: Int = 1) -> Int {
    let span = dilation * (kernel - 1) + 1
    guard size + 2 * padding >= span else { return 0 }
    return (size + 2 * padding - span) / stride + 1
}
