/// NMS as torchvision's CPU kernel (`nms_kernel.cpp`) computes it, for both host backends: a
/// stable descending sort of the scores, areas (x2 - x1)(y2 - y1), and IoU = inter / (area_i +
/// area_j - inter) compared with `>` in Float32.
extension HostBackend {
    package func nms(_ boxes: Tensor, scores: Tensor, threshold: Float) throws -> [Int] {
        let (b, s) = (try contiguous(boxes).floats, try contiguous(scores).floats)
        let count = boxes.shape[0]
        let order = (0..<count).sorted { s[$0] > s[$1] || (s[$0] == s[$1] && $0 < $1) }
        let areas = (0..<count).map { (b[4 * $0 + 2] - b[4 * $0]) * (b[4 * $0 + 3] - b[4 * $0 + 1]) }
        var suppressed = [Bool](repeating: false, count: count), keep: [Int] = []
        for (position, i) in order.enumerated() where !suppressed[i] {
            keep.append(i)
            let (x1, y1, x2, y2) = (b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3])
            for j in order[(position + 1)...] where !suppressed[j] {
                let w = max(min(x2, b[4 * j + 2]) - max(x1, b[4 * j]), 0), h = max(min(y2, b[4 * j + 3]) - max(y1, b[4 * j + 1]), 0)
                let intersection = w * h
                if intersection / (areas[i] + areas[j] - intersection) > threshold { suppressed[j] = true }
            }
        }
        return keep
    }
}
