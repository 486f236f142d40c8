import Foundation

/// cuDNN 9 (`libcudnn.so.9`), the functions we call, with their C types. Its legacy
/// descriptor API (tensor, filter and convolution descriptors; `cudnnConvolutionForward`) is
/// still exported by cuDNN 9's front library, which passes each call to the sub-library that
/// implements it (`libcudnn_cnn.so.9`, ...; `CUDALibraries` loads those first).
public final class CuDNN: @unchecked Sendable {
    typealias Status = Int32
    package typealias Descriptor = OpaquePointer

    /// cudnnDataType_t, cudnnTensorFormat_t, cudnnMathType_t and cudnnConvolutionMode_t values (cudnn_graph.h).
    enum DataType: Int32 { case float = 0, half = 2, bfloat16 = 9 }
    enum Format: Int32 { case nchw = 0, nhwc = 1 }
    enum MathType: Int32 { case `default` = 0, tensorOp = 1, fma = 3 }
    static let crossCorrelation: Int32 = 1

    let getVersion: @convention(c) () -> Int
    let getErrorString: @convention(c) (Status) -> UnsafePointer<CChar>?
    let create: @convention(c) (UnsafeMutablePointer<Descriptor?>) -> Status
    let createTensorDescriptor: @convention(c) (UnsafeMutablePointer<Descriptor?>) -> Status
    let destroyTensorDescriptor: @convention(c) (Descriptor?) -> Status
    let destroyFilterDescriptor: @convention(c) (Descriptor?) -> Status
    let destroyConvolutionDescriptor: @convention(c) (Descriptor?) -> Status
    let setTensor4dDescriptor: @convention(c) (Descriptor, Int32, Int32, Int32, Int32, Int32, Int32) -> Status
    let createFilterDescriptor: @convention(c) (UnsafeMutablePointer<Descriptor?>) -> Status
    let setFilter4dDescriptor: @convention(c) (Descriptor, Int32, Int32, Int32, Int32, Int32, Int32) -> Status
    let createConvolutionDescriptor: @convention(c) (UnsafeMutablePointer<Descriptor?>) -> Status
    let setConvolution2dDescriptor: @convention(c) (Descriptor, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32) -> Status
    let setConvolutionGroupCount: @convention(c) (Descriptor, Int32) -> Status
    let setConvolutionMathType: @convention(c) (Descriptor, Int32) -> Status
    let getConvolutionForwardAlgorithm: @convention(c) (Descriptor, Descriptor, Descriptor, Descriptor, Descriptor, Int32,
                                                        UnsafeMutablePointer<Int32>, UnsafeMutableRawPointer) -> Status
    let getConvolutionForwardWorkspaceSize: @convention(c) (Descriptor, Descriptor, Descriptor, Descriptor, Descriptor, Int32,
                                                            UnsafeMutablePointer<Int>) -> Status
    typealias AlgorithmSearch = @convention(c) (Descriptor, Descriptor, Descriptor, Descriptor, Descriptor, Int32,
                                                UnsafeMutablePointer<Int32>, UnsafeMutableRawPointer) -> Status
    typealias WorkspaceSize = @convention(c) (Descriptor, Descriptor, Descriptor, Descriptor, Descriptor, Int32,
                                              UnsafeMutablePointer<Int>) -> Status
    /// Backward data (handle, alpha, wDesc, w, dyDesc, dy, convDesc, algo, workspace, size, beta, dxDesc, dx) and
    /// backward filter (handle, alpha, xDesc, x, dyDesc, dy, convDesc, algo, workspace, size, beta, dwDesc, dw): one C type.
    typealias ConvolutionBackward = @convention(c) (Descriptor, UnsafeRawPointer, Descriptor, UnsafeRawPointer?, Descriptor, UnsafeRawPointer?,
                                                    Descriptor, Int32, UnsafeMutableRawPointer?, Int, UnsafeRawPointer, Descriptor,
                                                    UnsafeMutableRawPointer?) -> Status
    let getConvolutionBackwardDataAlgorithm: AlgorithmSearch
    let getConvolutionBackwardDataWorkspaceSize: WorkspaceSize
    let convolutionBackwardData: ConvolutionBackward
    let getConvolutionBackwardFilterAlgorithm: AlgorithmSearch
    let getConvolutionBackwardFilterWorkspaceSize: WorkspaceSize
    let convolutionBackwardFilter: ConvolutionBackward
    /// (handle, mode, alpha, beta, xDesc, x, yDesc, y, bnDesc, scale, bias, factor, runningMean, runningVar, eps, saveMean, saveInvVar)
    let batchNormalizationForwardTraining: @convention(c) (Descriptor, Int32, UnsafeRawPointer, UnsafeRawPointer, Descriptor, UnsafeRawPointer?,
                                                           Descriptor, UnsafeMutableRawPointer?, Descriptor, UnsafeRawPointer?, UnsafeRawPointer?,
                                                           Double, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Double,
                                                           UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Status
    /// (handle, mode, alpha, beta, xDesc, x, yDesc, y, bnDesc, scale, bias, mean, var, eps)
    let batchNormalizationForwardInference: @convention(c) (Descriptor, Int32, UnsafeRawPointer, UnsafeRawPointer, Descriptor, UnsafeRawPointer?,
                                                            Descriptor, UnsafeMutableRawPointer?, Descriptor, UnsafeRawPointer?, UnsafeRawPointer?,
                                                            UnsafeRawPointer?, UnsafeRawPointer?, Double) -> Status
    /// (handle, mode, alphaData, betaData, alphaParam, betaParam, xDesc, x, dyDesc, dy, dxDesc, dx, bnDesc, scale,
    ///  dScale, dBias, eps, savedMean, savedInvVar)
    let batchNormalizationBackward: @convention(c) (Descriptor, Int32, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer,
                                                    Descriptor, UnsafeRawPointer?, Descriptor, UnsafeRawPointer?, Descriptor, UnsafeMutableRawPointer?,
                                                    Descriptor, UnsafeRawPointer?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Double,
                                                    UnsafeRawPointer?, UnsafeRawPointer?) -> Status
    /// cudnnBatchNormMode_t: statistics per channel over N, H and W.
    static let batchNormSpatial: Int32 = 1
    let convolutionForward: @convention(c) (Descriptor, UnsafeRawPointer, Descriptor, UnsafeRawPointer?, Descriptor, UnsafeRawPointer?,
                                            Descriptor, Int32, UnsafeMutableRawPointer?, Int, UnsafeRawPointer, Descriptor,
                                            UnsafeMutableRawPointer?) -> Status

    public init(_ libraries: CUDALibraries) throws {
        let lib = CUDALibraries.cudnn
        getVersion = try libraries.symbol("cudnnGetVersion", in: lib)
        getErrorString = try libraries.symbol("cudnnGetErrorString", in: lib)
        create = try libraries.symbol("cudnnCreate", in: lib)
        createTensorDescriptor = try libraries.symbol("cudnnCreateTensorDescriptor", in: lib)
        destroyTensorDescriptor = try libraries.symbol("cudnnDestroyTensorDescriptor", in: lib)
        destroyFilterDescriptor = try libraries.symbol("cudnnDestroyFilterDescriptor", in: lib)
        destroyConvolutionDescriptor = try libraries.symbol("cudnnDestroyConvolutionDescriptor", in: lib)
        setTensor4dDescriptor = try libraries.symbol("cudnnSetTensor4dDescriptor", in: lib)
        createFilterDescriptor = try libraries.symbol("cudnnCreateFilterDescriptor", in: lib)
        setFilter4dDescriptor = try libraries.symbol("cudnnSetFilter4dDescriptor", in: lib)
        createConvolutionDescriptor = try libraries.symbol("cudnnCreateConvolutionDescriptor", in: lib)
        setConvolution2dDescriptor = try libraries.symbol("cudnnSetConvolution2dDescriptor", in: lib)
        setConvolutionGroupCount = try libraries.symbol("cudnnSetConvolutionGroupCount", in: lib)
        setConvolutionMathType = try libraries.symbol("cudnnSetConvolutionMathType", in: lib)
        getConvolutionForwardAlgorithm = try libraries.symbol("cudnnGetConvolutionForwardAlgorithm_v7", in: lib)
        getConvolutionForwardWorkspaceSize = try libraries.symbol("cudnnGetConvolutionForwardWorkspaceSize", in: lib)
        convolutionForward = try libraries.symbol("cudnnConvolutionForward", in: lib)
        getConvolutionBackwardDataAlgorithm = try libraries.symbol("cudnnGetConvolutionBackwardDataAlgorithm_v7", in: lib)
        getConvolutionBackwardDataWorkspaceSize = try libraries.symbol("cudnnGetConvolutionBackwardDataWorkspaceSize", in: lib)
        convolutionBackwardData = try libraries.symbol("cudnnConvolutionBackwardData", in: lib)
        getConvolutionBackwardFilterAlgorithm = try libraries.symbol("cudnnGetConvolutionBackwardFilterAlgorithm_v7", in: lib)
        getConvolutionBackwardFilterWorkspaceSize = try libraries.symbol("cudnnGetConvolutionBackwardFilterWorkspaceSize", in: lib)
        convolutionBackwardFilter = try libraries.symbol("cudnnConvolutionBackwardFilter", in: lib)
        batchNormalizationForwardTraining = try libraries.symbol("cudnnBatchNormalizationForwardTraining", in: lib)
        batchNormalizationForwardInference = try libraries.symbol("cudnnBatchNormalizationForwardInference", in: lib)
        batchNormalizationBackward = try libraries.symbol("cudnnBatchNormalizationBackward", in: lib)
    }

    /// cuDNN's version as "9.x.y".
    public var version: String { dottedVersion(getVersion()) }

    func check(_ status: Status, _ call: @autoclosure () -> String) throws {
        guard status != 0 else { return }
        throw CUDAError("\(call()) failed: \(getErrorString(status).map { String(cString: $0) } ?? "cudnnStatus \(status)")")
    }

    /// A handle on the current CUDA context (needs a GPU).
    package func makeHandle() throws -> Descriptor {
        var handle: Descriptor?
        try check(create(&handle), "cudnnCreate")
        return handle!
    }

    /// One FP32 convolution forward, NCHW, FMA math (no TF32), on device buffers: the smoke
    /// test's check of cuDNN from Swift against the CPU, through the backend's own plan (its
    /// descriptors and the heuristic's algorithms). Returns the forward algorithm cuDNN's
    /// heuristic chose (cudnnConvolutionFwdAlgo_t).
    @discardableResult
    package func convolutionForward(handle: Descriptor, input x: CUDADriver.DevicePointer, weight w: CUDADriver.DevicePointer,
                            output y: CUDADriver.DevicePointer, geometry g: ConvGeometry, driver: CUDADriver) throws -> Int {
        let plan = try ConvolutionPlan(g, cudnn: self, handle: handle, math: .fma)
        let (algorithm, workspaceSize) = plan.forward
        let workspace = workspaceSize > 0 ? try driver.allocate(bytes: workspaceSize) : 0
        // Freed after the convolution has run: cuMemFree does not promise to wait for it.
        defer { if workspace != 0 { _ = try? driver.synchronize(); driver.free(workspace) } }
        var (alpha, beta): (Float, Float) = (1, 0)
        try check(convolutionForward(handle, &alpha, plan.x, address(x), plan.w, address(w), plan.conv, algorithm,
                                     address(workspace), workspaceSize, &beta, plan.y, address(y)),
                  "cudnnConvolutionForward (input \(g.input), weight \(g.weight), algorithm \(algorithm))")
        return Int(algorithm)
    }
}
