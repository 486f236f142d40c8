/// An op's backward pass: the gradient of its result to one gradient per input (nil for inputs
/// that need none). A backend returns one from a forward kernel when the op is being recorded;
/// the tape (`Autograd.swift`) owns when it runs.
package typealias Pullback = (Tensor) throws -> [Tensor?]

/// What a device must provide: memory, copies to and from the host, and each op's kernels.
///
/// The ops in this module check shapes, name errors and record the tape; then they call one
/// of these with inputs already known to be on this backend's device. Kernels may return any
/// layout of theirs (`Layout`) and must accept any layout of theirs. A new backend is a folder
/// under `Backends/` with a type conforming to this, a case of `Device` and its line in
/// `Device.backend`; the parity tests then hold it to the reference backend, op by op
/// (`BackendOpParityTests`) and model by model (`BackendParityTests`, `tricks selftest`).
package protocol Backend: AnyObject, Sendable {
    var device: Device { get }
    /// What `Device.kernels` reports.
    var kernels: KernelLibrary { get }

    // MARK: Memory
    /// Row-major Float32 `values` of `shape`, on this device.
    func tensor(shape: [Int], values: UnsafeBufferPointer<Float>) throws -> Tensor
    /// The plain (row-major) layout of `dims` in this backend's terms.
    func plainLayout(_ dims: [Int], dataType: DataType) -> any Layout
    /// The elements as Float32 in logical row-major order, copied to the host.
    func scalars(_ x: Tensor) throws -> [Float]
    /// Overwrites `destination` in place with `source` (same shape and device, any layout or type).
    func assign(_ destination: Tensor, from source: Tensor) throws
    /// `x` in `target`'s layout and type, or `x` itself when already there.
    func reordered(_ x: Tensor, like target: Tensor) throws -> Tensor
    /// A copy of `x` in `target`'s layout, sharing no storage with `x`.
    func copy(_ x: Tensor, like target: Tensor) throws -> Tensor
    /// `x` in the plain layout of its type, or `x` itself when already plain.
    func contiguous(_ x: Tensor) throws -> Tensor
    /// `x` with elements of `type` (rounding to nearest even), same arrangement.
    func converted(_ x: Tensor, to type: DataType) throws -> Tensor
    /// Rounds the Float32 elements of `x` to `type` in place (emulated low precision).
    func roundInPlace(_ x: Tensor, to type: DataType) throws
    /// Whether the kernels compute in `type` themselves (true for Float32 everywhere). Ops
    /// cast other inputs to Float32 first (`Autocast.swift`).
    func computesNatively(_ type: DataType) -> Bool

    // MARK: Kernels (inputs on this device, of a type it computes in natively; shapes already checked)
    func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor?, geometry: ConvGeometry,
                recording: Bool) throws -> (Tensor, Pullback?)
    /// Updates the running statistics in place in training mode.
    func batchNorm(_ input: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                   training: Bool, momentum: Float, eps: Float, fusedReLU: Bool, recording: Bool) throws -> (Tensor, Pullback?)
    /// Batch statistics summed over `collective`'s processes (SyncBatchNorm, training only).
    func syncBatchNorm(_ input: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                       collective: any Collective, momentum: Float, eps: Float, fusedReLU: Bool,
                       recording: Bool) throws -> (Tensor, Pullback?)
    /// activation(conv(input) + bias + residual), evaluation only (`InferenceConvolution.swift`);
    /// backends without a fused kernel get the composition.
    func inferenceConv2d(_ input: Tensor, weights: KernelWeights, geometry: ConvGeometry, residual: Tensor?,
                         activation: FusedActivation) throws -> Tensor
    func relu(_ x: Tensor, recording: Bool) throws -> (Tensor, Pullback?)
    func relu6(_ x: Tensor, recording: Bool) throws -> (Tensor, Pullback?)
    func pool2d(_ x: Tensor, geometry: PoolGeometry, recording: Bool) throws -> (Tensor, Pullback?)
    func linear(_ input: Tensor, weight: Tensor, bias: Tensor?, recording: Bool) throws -> (Tensor, Pullback?)
    /// a + b into new storage in `a`'s layout (also how gradients reaching a tensor twice are summed).
    func add(_ a: Tensor, _ b: Tensor) throws -> Tensor
    /// max(a + b, 0); the pullback hands the masked gradient to both inputs.
    func addReLU(_ a: Tensor, _ b: Tensor, recording: Bool) throws -> (Tensor, Pullback?)
    func multiply(_ a: Tensor, _ b: Tensor, recording: Bool) throws -> (Tensor, Pullback?)
    func scale(_ x: Tensor, by factor: Float) throws -> Tensor
    func concat(_ inputs: [Tensor], axis: Int, recording: Bool) throws -> (Tensor, Pullback?)
    /// Inverted dropout with a mask drawn from `generator` (training, 0 < p < 1).
    func dropout(_ x: Tensor, p: Float, generator: inout SeededGenerator, recording: Bool) throws -> (Tensor, Pullback?)
    /// Along the last axis.
    func logSoftmax(_ x: Tensor, recording: Bool) throws -> (Tensor, Pullback?)
    /// Soft-target cross-entropy averaged over the batch, as a [1] tensor.
    func crossEntropy(_ logits: Tensor, target: Tensor, recording: Bool) throws -> (Tensor, Pullback?)
    /// Cross-entropy of [N, K, ...] scores against a label per position (axis 1 holds the classes),
    /// averaged over the positions not labelled `ignoreIndex`, with PyTorch's label smoothing.
    func pixelCrossEntropy(_ logits: Tensor, labels: [Int32], ignoreIndex: Int, labelSmoothing: Float,
                           recording: Bool) throws -> (Tensor, Pullback?)
    /// [N, C, H, W] to [N, C, size[0], size[1]], align_corners=False.
    func upsampleBilinear2d(_ x: Tensor, size: [Int], recording: Bool) throws -> (Tensor, Pullback?)
    /// [N, C, H, W] to [N, C, size[0], size[1]], PyTorch's mode="nearest".
    func upsampleNearest2d(_ x: Tensor, size: [Int], recording: Bool) throws -> (Tensor, Pullback?)
    /// `torchvision.ops.roi_align` (`RoIAlign.swift`): [regions, C, height, width] from [N, C, H, W].
    func roiAlign(_ input: Tensor, geometry: RoIAlignGeometry, recording: Bool) throws -> (Tensor, Pullback?)
    /// `torchvision.ops.nms` (`NonMaximumSuppression.swift`): the indices of `boxes` [K, 4] kept, highest score first.
    func nms(_ boxes: Tensor, scores: Tensor, threshold: Float) throws -> [Int]
    /// Faster R-CNN's weighted losses (`DetectionLosses.swift`), each a [1] tensor.
    func binaryCrossEntropyWithLogits(_ x: Tensor, selection: LossSelection, recording: Bool) throws -> (Tensor, Pullback?)
    func smoothL1Loss(_ x: Tensor, selection: LossSelection, beta: Float, recording: Bool) throws -> (Tensor, Pullback?)
    /// The sum of all elements.
    func sum(_ x: Tensor) throws -> Float
}
