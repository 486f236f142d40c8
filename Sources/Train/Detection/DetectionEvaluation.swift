import Data
import Foundation
import Models
import NN
import Tensors

/// A detector scored on a data set: the mean of its training losses in evaluation mode (the
/// anchors and proposals sampled with a fixed seed), and VOC and COCO AP in %.
public struct DetectionEvaluation {
    public var loss: Double
    public var metrics: DetectionMetrics
    public var images: Int
}

/// Runs `detector` on every sample of `dataset`, `batchSize` at a time, in `precision` where the
/// CPU computes in it. VOC AP leaves `difficult` objects out (neither true nor false positives);
/// COCO AP treats them, and COCO's crowds, as pycocotools treats crowds.
public func evaluateDetection(_ detector: FasterRCNN, on dataset: any DetectionDataset, batchSize: Int,
                              precision: DataType = .float32) throws -> DetectionEvaluation {
    let wasTraining = detector.isTraining
    detector.eval()
    defer { detector.train(wasTraining) }
    var voc = VOCEvaluation(classes: detector.classes), coco = COCOEvaluation(classes: detector.classes)
    var (lossSum, batches) = (0.0, 0)
    for start in stride(from: 0, to: dataset.count, by: batchSize) {
        let samples = try (start..<min(dataset.count, start + batchSize)).map { try dataset.checkedSample(at: $0) }
        let images = try samples.map { try detectionTensor($0.image).to(detector.device) }
        try GradMode.withoutGradient {
            let found = try Autocast.with(precision) { try detector.detect(images) }
            var generator = SeededGenerator(seed: 0, UInt64(start))
            let targets = samples.map { sample in
                let (boxes, labels) = sample.trainingObjects
                return DetectionTarget(boxes: boxes.map { Box($0[0], $0[1], $0[2], $0[3]) }, labels: labels)
            }
            lossSum += Double(try Autocast.with(precision) { try detector.losses(images, targets: targets, generator: &generator).total() }
                .converted(to: .float32).item())
            batches += 1
            for (sample, detections) in zip(samples, found) {
                let truth = sample.boxes.map { Box($0[0], $0[1], $0[2], $0[3]) }
                voc.add(detections, truth: truth, labels: sample.labels, difficult: sample.difficult)
                coco.add(detections, truth: truth, labels: sample.labels, crowd: sample.difficult)
            }
        }
    }
    let summary = coco.summary()
    let metrics = DetectionMetrics(voc07: 100 * (voc.meanAveragePrecision(elevenPoint: true) ?? 0),
                                   vocArea: 100 * (voc.meanAveragePrecision(elevenPoint: false) ?? 0),
                                   cocoAP: 100 * (summary?.ap ?? 0), cocoAP50: 100 * (summary?.ap50 ?? 0), cocoAP75: 100 * (summary?.ap75 ?? 0))
    return DetectionEvaluation(loss: batches > 0 ? lossSum / Double(batches) : 0, metrics: metrics, images: dataset.count)
}
