/// Faster R-CNN's sizes and thresholds, named and defaulted as torchvision's `FasterRCNN`
/// arguments (its defaults are for photos: images resized to a shorter side of 800 pixels).
/// Small images want smaller `minSize`, `maxSize` and `anchorSizes`.
public struct FasterRCNNSettings: Sendable, Codable, Equatable {
    // The transform (`GeneralizedRCNNTransform`).
    public var minSize = 800
    public var maxSize = 1333
    public var imageMean: [Float] = [0.485, 0.456, 0.406]
    public var imageStd: [Float] = [0.229, 0.224, 0.225]
    /// Batches are zero-padded at the bottom and right to a multiple of this.
    public var sizeDivisible = 32

    // The region proposal network.
    /// One anchor size per FPN level (P2 to P6).
    public var anchorSizes: [Float] = [32, 64, 128, 256, 512]
    public var aspectRatios: [Float] = [0.5, 1, 2]
    public var rpnPreNMSTopNTrain = 2000, rpnPreNMSTopNTest = 1000
    public var rpnPostNMSTopNTrain = 2000, rpnPostNMSTopNTest = 1000
    public var rpnNMSThreshold: Float = 0.7
    public var rpnForegroundIoU: Float = 0.7, rpnBackgroundIoU: Float = 0.3
    public var rpnBatchSizePerImage = 256
    public var rpnPositiveFraction: Float = 0.5
    public var rpnScoreThreshold: Float = 0

    // The widths (torchvision's: 256 channels in the pyramid, 1024 in the box head's two layers).
    public var fpnChannels = 256
    public var representationSize = 1024

    // The box head.
    public var boxScoreThreshold: Float = 0.05
    public var boxNMSThreshold: Float = 0.5
    public var detectionsPerImage = 100
    public var boxForegroundIoU: Float = 0.5, boxBackgroundIoU: Float = 0.5
    public var boxBatchSizePerImage = 512
    public var boxPositiveFraction: Float = 0.25

    public init() {}

    /// For small images (the CIFAR ResNets' detectors, the built-in scenes): a shorter side of
    /// 128 (longer at most 224) and anchors of 8, 16, 32, ... pixels, one size per pyramid level.
    /// The CIFAR ResNets keep their first stage at full resolution, so the pyramid's finest level
    /// is the whole 128x128 image: at torchvision's 256 channels its 3x3 convolutions alone cost
    /// ~40 GFLOP an image (0.8 training images/s on 2 cores). Hence a narrower detector, 64
    /// channels in the pyramid and 256 in the box head, and fewer proposals and samples (scenes
    /// hold at most 4 objects): ~10x less work.
    public static func smallImages(levels: Int) -> FasterRCNNSettings {
        var s = FasterRCNNSettings()
        (s.minSize, s.maxSize) = (128, 224)
        s.anchorSizes = (0..<levels).map { Float(8 << $0) }
        (s.fpnChannels, s.representationSize) = (64, 256)
        (s.rpnPreNMSTopNTrain, s.rpnPostNMSTopNTrain, s.rpnPreNMSTopNTest, s.rpnPostNMSTopNTest) = (1000, 500, 500, 300)
        s.boxBatchSizePerImage = 128
        return s
    }
}
