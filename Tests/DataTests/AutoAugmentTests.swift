import Data
import Tensors
import XCTest

/// RandAugment's and TrivialAugmentWide's operations against values worked by hand from
/// torchvision's (and PIL's) definitions, and the policies' parsing and determinism.
final class AutoAugmentTests: XCTestCase {
    func grey(_ values: [Float], width: Int) -> Image {
        Image(width: width, height: values.count / width, channels: 1, pixels: values)
    }

    func testPixelOperations() {
        let row = grey([183, 200, 100, 50], width: 4)
        XCTAssertEqual(AugmentOp.posterize.apply(row, magnitude: 4).pixels, [176, 192, 96, 48], "keep the 4 high bits")
        XCTAssertEqual(AugmentOp.solarize.apply(row, magnitude: 128).pixels, [72, 55, 100, 50], "invert from 128 up")
        XCTAssertEqual(AugmentOp.brightness.apply(row, magnitude: 0.5).pixels, [255, 255, 150, 75], "x1.5, clamped")
        XCTAssertEqual(AugmentOp.autoContrast.apply(grey([50, 100, 150], width: 3), magnitude: 0).pixels, [0, 127, 255])
        XCTAssertEqual(AugmentOp.identity.apply(row, magnitude: 7), row)
        // Contrast blends with the mean of the grey image (133.25): factor 0 gives it everywhere.
        XCTAssertEqual(AugmentOp.contrast.apply(row, magnitude: -1).pixels, [133, 133, 133, 133])
        // Equalize (PIL): two values, 512 pixels each, spread to the ends.
        let halves = grey([Float](repeating: 10, count: 512) + [Float](repeating: 20, count: 512), width: 32)
        XCTAssertEqual(Set(AugmentOp.equalize.apply(halves, magnitude: 0).pixels), [0, 255])
    }

    func testGeometricOperations() {
        let square = grey((0..<16).map(Float.init), width: 4)
        XCTAssertEqual(AugmentOp.translateX.apply(square, magnitude: 2).pixels,
                       [0, 0, 0, 1, 0, 0, 4, 5, 0, 0, 8, 9, 0, 0, 12, 13], "two columns right, black in")
        XCTAssertEqual(AugmentOp.translateY.apply(square, magnitude: -1).pixels, Array((4..<16).map(Float.init)) + [0, 0, 0, 0])
        // 90 degrees counter-clockwise: the right column becomes the top row.
        XCTAssertEqual(AugmentOp.rotate.apply(square, magnitude: 90).pixels, [3, 7, 11, 15, 2, 6, 10, 14, 1, 5, 9, 13, 0, 4, 8, 12])
        XCTAssertEqual(AugmentOp.shearX.apply(square, magnitude: 0).pixels, square.pixels)
    }

    func testEveryOperationKeepsBytes() throws {
        var rng = SeededGenerator(seed: 5)
        let image = Image(width: 9, height: 7, channels: 3, pixels: (0..<189).map { _ in Float(Int.random(in: 0...255, using: &rng)) })
        for op in AugmentOp.allCases {
            for wide in [false, true] {
                for sign in [1.0, -1.0] {
                    let m = sign * op.magnitudeForTest(bin: 30, wide: wide, image: image)
                    let out = op.apply(image, magnitude: m)
                    XCTAssertEqual([out.width, out.height, out.channels], [9, 7, 3], "\(op)")
                    XCTAssertTrue(out.pixels.allSatisfy { $0 >= 0 && $0 <= 255 && $0 == $0.rounded() }, "\(op) \(m): bytes")
                }
            }
        }
    }

    func testPoliciesParseAndRepeat() throws {
        XCTAssertEqual(RandAugment(policy: "m9-n2").map { [$0.magnitude, $0.count] }, [9, 2])
        XCTAssertEqual(RandAugment(policy: "rand-n3-m15").map { [$0.magnitude, $0.count] }, [15, 3])
        for bad in ["x9", "m31", "m-n2", "m9-n2-q1"] { XCTAssertNil(RandAugment(policy: bad), bad) }
        var rng = SeededGenerator(seed: 9)
        let image = Image(width: 8, height: 8, channels: 3, pixels: (0..<192).map { _ in Float(Int.random(in: 0...255, using: &rng)) })
        for transform in [RandAugment(count: 2, magnitude: 9) as any Transform, TrivialAugmentWide()] {
            var (a, b) = (SeededGenerator(seed: 1), SeededGenerator(seed: 1))
            XCTAssertEqual(try transform(image, rng: &a), try transform(image, rng: &b), "the same draws give the same image")
            var changed = 0
            for seed in 0..<20 {
                var r = SeededGenerator(seed: UInt64(seed))
                if try transform(image, rng: &r) != image { changed += 1 }
            }
            XCTAssertGreaterThan(changed, 10, "\(type(of: transform)) changes most images")
        }
    }
}

extension AugmentOp {
    func magnitudeForTest(bin: Int, wide: Bool, image: Image) -> Double {
        let all = AugmentOp.magnitudes(bin: bin, bins: 31, width: image.width, height: image.height, wide: wide)
        return all[self] ?? 0
    }
}
