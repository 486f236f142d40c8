import Data
import Foundation
import NN
import Tensors
import Train
import XCTest

/// `--precision bf16` and `fp16` end to end: which path runs, that native bf16 trains as well as
/// Float32, that checkpoints stay Float32 and resume in any precision, and that a CPU without
/// BF16 falls back to the emulation and says so.
final class LowPrecisionTests: XCTestCase {
    var folders: [String] = []

    override func tearDown() {
        for folder in folders { try? FileManager.default.removeItem(atPath: folder) }
    }

    func config(_ precision: TrainingPrecision, name: String = #function, perClass: Int = 30, epochs: Int = 1) throws -> TrainConfig {
        try XCTSkipUnless(FashionMNIST.isInstalled, "dataset-fashion-mnist is not installed")
        var c = TrainConfig()
        c.model = "cifar_resnet20"
        c.trainPerClass = perClass
        c.valPerClass = 20
        c.batchSize = 32
        c.epochs = epochs
        c.threads = 2
        c.logEvery = 1000
        c.precision = precision
        c.output = NSTemporaryDirectory() + "bagoftricks-\(name.filter(\.isLetter))-\(precision)-\(UUID().uuidString)"
        folders.append(c.output)
        return c
    }

    func trainer(_ c: TrainConfig, resume: Bool = false) throws -> Trainer {
        let trainer = try Trainer(config: c, resume: resume)
        trainer.log = { _ in }
        return trainer
    }

    var nativeBFloat16: Bool { Autocast.isNative(.bfloat16, on: .cpu) }

    func testEachPrecisionTakesItsPath() throws {
        XCTAssertEqual(try trainer(config(.fp32)).precision, .float32)
        XCTAssertEqual(try trainer(config(.bf16)).precision, nativeBFloat16 ? .native(.bfloat16) : .emulated(.bfloat16))
        XCTAssertEqual(try trainer(config(.fp16)).precision, .emulated(.float16), "oneDNN 2.6 has no fp16 training kernels on CPUs")
        var reference = try config(.bf16)
        reference.device = .reference
        XCTAssertEqual(try trainer(reference).precision, .emulated(.bfloat16), "the reference backend computes in Float32 only")
        let native = try trainer(config(.bf16))
        if nativeBFloat16 {
            XCTAssertTrue(try native.optimizer.masters.isEmpty, "natively the parameters are the Float32 masters")
            XCTAssertNil(native.state.lossScaler, "bf16 has Float32's range: no loss scaling")
        } else {
            XCTAssertFalse(try native.optimizer.masters.isEmpty)
            XCTAssertNotNil(native.state.lossScaler)
        }
    }

    /// 3 epochs on 1000 images from the same initialisation and data order: native bf16 ends
    /// within 0.15 of Float32's training loss and within 10 points of its top-1 on 200
    /// validation images. The runs part ways after a few steps (rounding), so they differ as two
    /// seeds do: Float32 with seeds 0, 1, 2 ended at 0.93, 0.84, 0.85 (top-1 75, 76, 67); bf16
    /// with seeds 0, 1 at 0.89, 0.83. A broken bf16 path stays near ln 10 = 2.3 or diverges.
    func testNativeBFloat16TrainsLikeFloat32() throws {
        try XCTSkipUnless(nativeBFloat16, "this CPU has no AVX-512 BF16: bf16 is emulated here (testEachPrecisionTakesItsPath)")
        let fp32 = try trainer(config(.fp32, perClass: 100, epochs: 3)).run()
        let bf16 = try trainer(config(.bf16, perClass: 100, epochs: 3)).run()
        let (a, b) = (fp32.history.last!, bf16.history.last!)
        XCTAssertLessThan(b.trainLoss, fp32.history.first!.trainLoss, "bf16 learns")
        XCTAssertEqual(b.trainLoss, a.trainLoss, accuracy: 0.15, "final training loss, bf16 vs fp32")
        XCTAssertEqual(b.top1, a.top1, accuracy: 10, "top-1, bf16 vs fp32")
        XCTAssertNotEqual(b.trainLoss, a.trainLoss, "bf16 rounds: the runs cannot agree to the last bit")
    }

    /// Checkpoints hold Float32 whatever the precision, and a run resumes in another one: from
    /// bf16 to fp32, and from fp32 to emulated fp16 (whose masters start from the checkpoint,
    /// not from the initialisation), and from fp16 back to fp32 (from its Float32 masters).
    func testCheckpointsStayFloat32AndResumeAcrossPrecisions() throws {
        let first = try trainer(config(.bf16, epochs: 1))
        _ = try first.run()
        let saved = try SafeTensors.read(first.lastCheckpoint).entries
        XCTAssertTrue(saved.values.allSatisfy { $0.dtype == "F32" || $0.dtype == "I64" }, "\(Set(saved.values.map(\.dtype)))")

        var asFP16 = first.config
        (asFP16.precision, asFP16.epochs) = (.fp16, 2)
        let fp16 = try trainer(asFP16, resume: true)
        XCTAssertEqual(fp16.state.epoch, 1)
        XCTAssertNotNil(fp16.state.lossScaler, "the emulation scales the loss")
        let name = "conv1.weight"
        let checkpointValues = try saved[name]!.floats()
        XCTAssertEqual(try fp16.optimizer.masters[name], checkpointValues, "the fp16 masters are the checkpoint's weights")
        _ = try fp16.run()

        var asFP32 = asFP16
        (asFP32.precision, asFP32.epochs) = (.fp32, 3)
        let fp32 = try trainer(asFP32, resume: true)
        XCTAssertNil(fp32.state.lossScaler)
        let masters = try Checkpoint.loadState(fp16.lastCheckpoint).2
        XCTAssertFalse(masters.isEmpty)
        XCTAssertEqual(try fp32.model.namedParameters().first { $0.0 == name }!.1.scalars, masters[name],
                       "an emulated run continues from its Float32 masters, not their rounded copies")
        let final = try fp32.run()
        XCTAssertEqual(final.history.count, 3)
        XCTAssertTrue(final.history.allSatisfy { $0.trainLoss.isFinite })
    }
}
