/// Max pooling, as PyTorch's `F.max_pool2d` (stride defaults to the kernel size).
public func maxPool2d(_ input: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                      dilation: (Int, Int) = (1, 1), ceilMode: Bool = false) throws -> Tensor {
    let stride = stride ?? kernel
    let output = try pool2d(input, kind: .max, kernel: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    OpTrace.record(.maxPool2d(kernel: [kernel.0, kernel.1], stride: [stride.0, stride.1], padding: [padding.0, padding.1],
                              dilation: [dilation.0, dilation.1], ceilMode: ceilMode), inputs: [input], output: output)
    return output
}

/// Average pooling, as PyTorch's `F.avg_pool2d`. `countIncludePad: false` divides by the number
/// of real input elements in each window (what ResNet-D's shortcut uses).
public func avgPool2d(_ input: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                      ceilMode: Bool = false, countIncludePad: Bool = true) throws -> Tensor {
    let stride = stride ?? kernel
    let output = try pool2d(input, kind: countIncludePad ? .averageIncludingPadding : .averageExcludingPadding, kernel: kernel,
                            stride: stride, padding: padding, dilation: (1, 1), ceilMode: ceilMode)
    OpTrace.record(.avgPool2d(kernel: [kernel.0, kernel.1], stride: [stride.0, stride.1], padding: [padding.0, padding.1],
                              ceilMode: ceilMode, countIncludePad: countIncludePad), inputs: [input], output: output)
    return output
}

/// Mean over H and W: [N, C, H, W] -> [N, C, 1, 1], as `F.adaptive_avg_pool2d(x, 1)`.
public func globalAvgPool2d(_ input: Tensor) throws -> Tensor {
    guard input.rank == 4 else { throw OpError(op: "global_avg_pool2d", "input must be [N, C, H, W], got \(input.shape)") }
    let output = try pool2d(input, kind: .averageIncludingPadding, kernel: (input.shape[2], input.shape[3]), stride: (1, 1),
                            padding: (0, 0), dilation: (1, 1), ceilMode: false)
    OpTrace.record(.globalAvgPool2d, inputs: [input], output: output)
    return output
}

package enum PoolKind: Int, Sendable {
    case max, averageIncludingPadding, averageExcludingPadding

    var name: String { self == .max ? "max_pool2d" : "avg_pool2d" }
}

/// Shapes and settings of one pooling, checked once: what every backend's kernels get. Per
/// axis (H, W); `padRight` is the padding a ceil-mode window may need past `padding`.
package struct PoolGeometry: Sendable {
    package let kind: PoolKind
    package let input: [Int], output: [Int]
    package let kernel: [Int], stride: [Int], padding: [Int], padRight: [Int], dilation: [Int]
    package let shapes: String
}

func pool2d(_ input: Tensor, kind: PoolKind, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
            dilation: (Int, Int), ceilMode: Bool) throws -> Tensor {
    let op = kind.name
    let k = [kernel.0, kernel.1], s = [stride.0, stride.1], p = [padding.0, padding.1], d = [dilation.0, dilation.1]
    let shapes = "input \(input.shape), kernel \(k), stride \(s), padding \(p), dilation \(d), ceil_mode \(ceilMode)"
    guard input.rank == 4 else { throw OpError(op: op, "input must be [N, C, H, W] (\(shapes))") }
    guard (k + s + d).allSatisfy({ $0 > 0 }), p.allSatisfy({ $0 >= 0 }) else {
        throw OpError(op: op, "kernel, stride and dilation must be positive, padding non-negative (\(shapes))")
    }
    guard (0..<2).allSatisfy({ 2 * p[$0] <= k[$0] }) else {
        throw OpError(op: op, "padding must be at most half the kernel, as in PyTorch (\(shapes))")
    }
    let input = try input.castForKernel(on: input.backend)
    let size = [input.shape[2], input.shape[3]]
    var out = [Int](), padRight = [Int]()
    for i in 0..<2 {
        let span = d[i] * (k[i] - 1) + 1
        var n = slidingWindowCount(size: size[i], kernel: k[i], stride: s[i], padding: p[i], dilation: d[i])
        if ceilMode {
            n = (size[i] + 2 * p[i] - span + s[i] - 1) / s[i] + 1
            // PyTorch: the last window must start inside the input or the left padding.
            if (n - 1) * s[i] >= size[i] + p[i] { n -= 1 }
        }
        guard n > 0 else { throw OpError(op: op, "window larger than the padded input (\(shapes))") }
        out.append(n)
        padRight.append((n - 1) * s[i] + span - size[i] - p[i])
    }
    if kind == .averageIncludingPadding && (0..<2).contains(where: { padRight[$0] > p[$0] }) {
        // PyTorch counts padding but not the overhang of a ceil-mode window; oneDNN counts both.
        throw OpError(op: op, "ceil_mode with count_include_pad=true and a window past the padding is not supported (\(shapes)); use count_include_pad=false")
    }
    let geometry = PoolGeometry(kind: kind, input: input.shape, output: [input.shape[0], input.shape[1]] + out,
                                kernel: k, stride: s, padding: p, padRight: padRight, dilation: d, shapes: shapes)
    let recording = Tensor.recording([input])
    let (output, pullback) = try input.backend.pool2d(input, geometry: geometry, recording: recording)
    if let pullback { try output.record(op, inputs: [input], backward: pullback) }
    return output
}
