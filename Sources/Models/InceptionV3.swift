import NN
import Tensors

/// Inception-V3 (Szegedy et al. 2016) for 299x299 input, with torchvision's module names
/// (`Conv2d_1a_3x3.conv.weight`, `Mixed_5b.branch1x1.bn.running_mean`, `AuxLogits`, `fc`),
/// so torchvision's `inception_v3` weights load. The auxiliary classifier is optional; in
/// training it is read with `forwardWithAuxiliary`.
public final class InceptionV3: Module {
    let stem: [(String, BasicConv2d)]
    let mixed5: [(String, Module)], mixed6: [(String, Module)], mixed7: [(String, Module)]
    public let auxLogits: InceptionAux?
    public let fc: Linear
    var dropoutGenerator = SeededGenerator(seed: 0)

    public init(classes: Int = 1000, inputChannels: Int = 3, auxiliaryHead: Bool = false) throws {
        stem = [("Conv2d_1a_3x3", try BasicConv2d(inputChannels, 32, kernel: (3, 3), stride: 2)),
                ("Conv2d_2a_3x3", try BasicConv2d(32, 32, kernel: (3, 3))),
                ("Conv2d_2b_3x3", try BasicConv2d(32, 64, kernel: (3, 3), padding: (1, 1))),
                ("Conv2d_3b_1x1", try BasicConv2d(64, 80, kernel: (1, 1))),
                ("Conv2d_4a_3x3", try BasicConv2d(80, 192, kernel: (3, 3)))]
        mixed5 = [("Mixed_5b", try InceptionA(192, poolFeatures: 32)), ("Mixed_5c", try InceptionA(256, poolFeatures: 64)),
                  ("Mixed_5d", try InceptionA(288, poolFeatures: 64))]
        mixed6 = [("Mixed_6a", try InceptionB(288)), ("Mixed_6b", try InceptionC(768, c7: 128)), ("Mixed_6c", try InceptionC(768, c7: 160)),
                  ("Mixed_6d", try InceptionC(768, c7: 160)), ("Mixed_6e", try InceptionC(768, c7: 192))]
        mixed7 = [("Mixed_7a", try InceptionD(768)), ("Mixed_7b", try InceptionE(1280)), ("Mixed_7c", try InceptionE(2048))]
        auxLogits = auxiliaryHead ? try InceptionAux(768, classes: classes) : nil
        fc = try Linear(2048, classes)
    }

    override public var children: [(String, Module)] {
        stem.map { ($0.0, $0.1 as Module) } + mixed5 + mixed6 + (auxLogits.map { [("AuxLogits", $0 as Module)] } ?? []) + mixed7 + [("fc", fc)]
    }

    override public func forward(_ x: Tensor) throws -> Tensor { try forwardWithAuxiliary(x).logits }

    /// The logits, and in training mode with the auxiliary head, the auxiliary logits.
    public func forwardWithAuxiliary(_ x: Tensor) throws -> (logits: Tensor, auxiliary: Tensor?) {
        var x = x
        for (i, (_, conv)) in stem.enumerated() {
            x = try conv(x)
            if i == 2 || i == 4 { x = try maxPool2d(x, kernel: (3, 3), stride: (2, 2)) }
        }
        for (_, block) in mixed5 + mixed6 { x = try block(x) }
        let auxiliary = try isTraining ? auxLogits?(x) : nil
        for (_, block) in mixed7 { x = try block(x) }
        x = try flatten(globalAveragePool(x))
        x = try dropout(x, p: 0.5, training: isTraining, using: &dropoutGenerator)
        return (try fc(x), auxiliary)
    }
}

/// Conv (no bias) + BatchNorm (eps 0.001) + ReLU, fused.
public final class BasicConv2d: Module {
    let conv: Conv2d, bn: BatchNorm2d

    init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: Int = 1, padding: (Int, Int) = (0, 0)) throws {
        conv = try Conv2d(inChannels, outChannels, kernel: kernel, stride: (stride, stride), padding: padding)
        bn = try BatchNorm2d(outChannels, eps: 0.001)
    }

    override public var children: [(String, Module)] { [("conv", conv), ("bn", bn)] }
    override public func forward(_ x: Tensor) throws -> Tensor { try conv.inference(x, bn, activation: .relu) ?? bn(conv(x), relu: true) }
}

/// A block of parallel branches joined along channels; subclasses name the branches.
public class InceptionBlock: Module {
    var named: [(String, Module)] = []
    override public var children: [(String, Module)] { named }
    func conv(_ name: String, _ i: Int, _ o: Int, _ k: (Int, Int), stride: Int = 1, padding: (Int, Int) = (0, 0)) throws -> BasicConv2d {
        let layer = try BasicConv2d(i, o, kernel: k, stride: stride, padding: padding)
        named.append((name, layer))
        return layer
    }
}

func avgPool3x3(_ x: Tensor) throws -> Tensor {
    MACCounter.add(x.count * 9)
    return try avgPool2d(x, kernel: (3, 3), stride: (1, 1), padding: (1, 1))
}
func maxPool3x3s2(_ x: Tensor) throws -> Tensor { try maxPool2d(x, kernel: (3, 3), stride: (2, 2)) }

final class InceptionA: InceptionBlock {
    var b1: BasicConv2d!, b5: [BasicConv2d] = [], b3: [BasicConv2d] = [], pool: BasicConv2d!
    init(_ c: Int, poolFeatures: Int) throws {
        super.init()
        b1 = try conv("branch1x1", c, 64, (1, 1))
        b5 = [try conv("branch5x5_1", c, 48, (1, 1)), try conv("branch5x5_2", 48, 64, (5, 5), padding: (2, 2))]
        b3 = [try conv("branch3x3dbl_1", c, 64, (1, 1)), try conv("branch3x3dbl_2", 64, 96, (3, 3), padding: (1, 1)),
              try conv("branch3x3dbl_3", 96, 96, (3, 3), padding: (1, 1))]
        pool = try conv("branch_pool", c, poolFeatures, (1, 1))
    }
    override func forward(_ x: Tensor) throws -> Tensor {
        try concat([b1(x), chain(b5, x), chain(b3, x), pool(avgPool3x3(x))])
    }
}

final class InceptionB: InceptionBlock {
    var b3: BasicConv2d!, dbl: [BasicConv2d] = []
    init(_ c: Int) throws {
        super.init()
        b3 = try conv("branch3x3", c, 384, (3, 3), stride: 2)
        dbl = [try conv("branch3x3dbl_1", c, 64, (1, 1)), try conv("branch3x3dbl_2", 64, 96, (3, 3), padding: (1, 1)),
               try conv("branch3x3dbl_3", 96, 96, (3, 3), stride: 2)]
    }
    override func forward(_ x: Tensor) throws -> Tensor { try concat([b3(x), chain(dbl, x), maxPool3x3s2(x)]) }
}

final class InceptionC: InceptionBlock {
    var b1: BasicConv2d!, b7: [BasicConv2d] = [], dbl: [BasicConv2d] = [], pool: BasicConv2d!
    init(_ c: Int, c7: Int) throws {
        super.init()
        b1 = try conv("branch1x1", c, 192, (1, 1))
        b7 = [try conv("branch7x7_1", c, c7, (1, 1)), try conv("branch7x7_2", c7, c7, (1, 7), padding: (0, 3)),
              try conv("branch7x7_3", c7, 192, (7, 1), padding: (3, 0))]
        dbl = [try conv("branch7x7dbl_1", c, c7, (1, 1)), try conv("branch7x7dbl_2", c7, c7, (7, 1), padding: (3, 0)),
               try conv("branch7x7dbl_3", c7, c7, (1, 7), padding: (0, 3)), try conv("branch7x7dbl_4", c7, c7, (7, 1), padding: (3, 0)),
               try conv("branch7x7dbl_5", c7, 192, (1, 7), padding: (0, 3))]
        pool = try conv("branch_pool", c, 192, (1, 1))
    }
    override func forward(_ x: Tensor) throws -> Tensor {
        try concat([b1(x), chain(b7, x), chain(dbl, x), pool(avgPool3x3(x))])
    }
}

final class InceptionD: InceptionBlock {
    var b3: [BasicConv2d] = [], b7: [BasicConv2d] = []
    init(_ c: Int) throws {
        super.init()
        b3 = [try conv("branch3x3_1", c, 192, (1, 1)), try conv("branch3x3_2", 192, 320, (3, 3), stride: 2)]
        b7 = [try conv("branch7x7x3_1", c, 192, (1, 1)), try conv("branch7x7x3_2", 192, 192, (1, 7), padding: (0, 3)),
              try conv("branch7x7x3_3", 192, 192, (7, 1), padding: (3, 0)), try conv("branch7x7x3_4", 192, 192, (3, 3), stride: 2)]
    }
    override func forward(_ x: Tensor) throws -> Tensor { try concat([chain(b3, x), chain(b7, x), maxPool3x3s2(x)]) }
}

final class InceptionE: InceptionBlock {
    var b1: BasicConv2d!, b3: BasicConv2d!, b3a: BasicConv2d!, b3b: BasicConv2d!
    var dbl: [BasicConv2d] = [], dbla: BasicConv2d!, dblb: BasicConv2d!, pool: BasicConv2d!
    init(_ c: Int) throws {
        super.init()
        b1 = try conv("branch1x1", c, 320, (1, 1))
        b3 = try conv("branch3x3_1", c, 384, (1, 1))
        b3a = try conv("branch3x3_2a", 384, 384, (1, 3), padding: (0, 1))
        b3b = try conv("branch3x3_2b", 384, 384, (3, 1), padding: (1, 0))
        dbl = [try conv("branch3x3dbl_1", c, 448, (1, 1)), try conv("branch3x3dbl_2", 448, 384, (3, 3), padding: (1, 1))]
        dbla = try conv("branch3x3dbl_3a", 384, 384, (1, 3), padding: (0, 1))
        dblb = try conv("branch3x3dbl_3b", 384, 384, (3, 1), padding: (1, 0))
        pool = try conv("branch_pool", c, 192, (1, 1))
    }
    override func forward(_ x: Tensor) throws -> Tensor {
        let y3 = try b3(x), yd = try chain(dbl, x)
        return try concat([b1(x), concat([b3a(y3), b3b(y3)]), concat([dbla(yd), dblb(yd)]), pool(avgPool3x3(x))])
    }
}

/// The auxiliary classifier on the 17x17 grid.
public final class InceptionAux: InceptionBlock {
    var conv0: BasicConv2d!, conv1: BasicConv2d!
    var fc: Linear!
    init(_ c: Int, classes: Int) throws {
        super.init()
        conv0 = try conv("conv0", c, 128, (1, 1))
        conv1 = try conv("conv1", 128, 768, (5, 5))
        fc = try Linear(768, classes)
        named.append(("fc", fc))
    }
    override public func forward(_ x: Tensor) throws -> Tensor {
        let y = try conv1(conv0(avgPool2d(x, kernel: (5, 5), stride: (3, 3))))
        return try fc(flatten(globalAveragePool(y)))
    }
}

func chain(_ layers: [BasicConv2d], _ x: Tensor) throws -> Tensor {
    try layers.reduce(x) { try $1($0) }
}
