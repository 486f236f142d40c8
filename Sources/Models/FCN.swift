import NN
import Tensors

/// FCN (Long et al. 2015) on a dilated ResNet, as torchvision's `fcn_resnet50` and GluonCV's
/// FCN, the model of the paper's transfer experiment (section 6, Table 8): the backbone's last
/// stages trade their stride for dilation until the output stride is 8 (layer3 and layer4 of
/// the ImageNet ResNets, dilation 2 and 4); the head is a 3x3 conv to a quarter of the channels,
/// BN, ReLU, dropout 0.1 and a 1x1 conv to the classes; the scores are resized bilinearly to
/// the input's size. The auxiliary head, the same on the stage before the last, adds a loss in
/// training (weight 0.4 in torchvision's recipe).
///
/// State-dict keys are torchvision's (`backbone.conv1`, `backbone.layer4...`, `classifier.0` to
/// `.4`, `aux_classifier...`), so that its weights load; its `fcn_resnet50` has the stride on the
/// 3x3 conv, as our `fcn_resnet50` (ResNet-B; `fcn_resnet50a` is the original). A classification checkpoint's weights load into `backbone`.
public final class FCN: Module {
    public let backbone: ResNet
    public let classifier: Sequential
    public let auxClassifier: Sequential?

    public init(backbone config: ResNetConfig, classes: Int, auxiliaryHead: Bool = false, dropout: Float = 0.1) throws {
        var config = config
        config.classes = 0
        while config.outputStride > 8 && config.dilatedStages < config.layers.count - 1 { config.dilatedStages += 1 }
        backbone = try ResNet(config)
        let channels = backbone.stageChannels
        classifier = try FCN.head(channels[channels.count - 1], classes: classes, dropout: dropout)
        auxClassifier = auxiliaryHead && channels.count > 1 ? try FCN.head(channels[channels.count - 2], classes: classes, dropout: dropout) : nil
    }

    /// torchvision's `FCNHead`.
    static func head(_ channels: Int, classes: Int, dropout: Float) throws -> Sequential {
        let inner = channels / 4
        return Sequential([try Conv2d(channels, inner, kernel: 3, padding: 1), try BatchNorm2d(inner), ReLU(), Dropout(p: dropout),
                           try Conv2d(inner, classes, kernel: 1, bias: true)])
    }

    override public var children: [(String, Module)] {
        [("backbone", backbone), ("classifier", classifier)] + (auxClassifier.map { [("aux_classifier", $0 as Module)] } ?? [])
    }

    /// Class scores [N, classes, H, W] at the input's size (the auxiliary head does not run).
    override public func forward(_ x: Tensor) throws -> Tensor {
        let stages = try backbone.stageOutputs(x)
        return try upsampleBilinear2d(classifier(stages[stages.count - 1]), size: (x.shape[2], x.shape[3]))
    }

    /// The scores and, with the auxiliary head, its scores (both at the input's size).
    public func forwardWithAuxiliary(_ x: Tensor) throws -> (out: Tensor, aux: Tensor?) {
        let stages = try backbone.stageOutputs(x)
        let size = (x.shape[2], x.shape[3])
        let out = try upsampleBilinear2d(classifier(stages[stages.count - 1]), size: size)
        let aux = try auxClassifier.map { try upsampleBilinear2d($0(stages[stages.count - 2]), size: size) }
        return (out, aux)
    }
}
