import CDNNL
import DNNL

/// a + b for tensors of one shape, in `a`'s layout (b is reordered to it if needed): the
/// residual connection.
public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try requireSameShape("add", a, b)
    let result = try accumulate(a, b)
    if Tensor.recording([a, b]) {
        result.record("add", inputs: [a, b]) { g in [g, g] }
    }
    return result
}

/// max(a + b, 0), in `a`'s layout: the end of a residual block. oneDNN's binary add, then its
/// ReLU in place on the sum, so the block's output takes one buffer, not two. (A ReLU post-op
/// on the binary add would save a pass, but oneDNN 2.6.3 computes it wrongly, and writes out
/// of bounds, on nChw8c tensors on AVX-512: docs/performance.md.) The backward pass is ReLU's,
/// from the output, and hands the masked gradient to both inputs.
public func addReLU(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try requireSameShape("add_relu", a, b)
    let result = try binaryAdd(a, b, op: "add_relu")
    try reluInPlace(result, op: "add_relu")
    if Tensor.recording([a, b]) {
        let saved = result.detached()
        result.record("add_relu", inputs: [a, b]) { g in
            let masked = try reluBackward(g, output: saved, op: "add_relu")
            return [masked, masked]
        }
    }
    return result
}

/// a + b by oneDNN's binary primitive, on all cores, in `a`'s layout (b is reordered to it
/// if needed).
func binaryAdd(_ a: Tensor, _ b: Tensor, op: String) throws -> Tensor {
    let data = a.descriptor
    let bb = try b.reordered(to: data, op: op)
    let primitive = try Context.shared.cache.primitive(for: PrimitiveKey(op: "binary_add", descriptors: [data])) {
        var desc = dnnl_binary_desc_t()
        var src0 = data.raw, src1 = data.raw, dst = data.raw
        try check(dnnl_binary_desc_init(&desc, dnnl_binary_add, &src0, &src1, &dst), op: op, "input \(data)")
        return try Primitive(op: op, descriptor: PrimitiveDescriptor(op: op, shapes: "input \(data)", desc: &desc))
    }
    let result = Tensor(empty: data)
    try primitive.execute([(DNNL_ARG_SRC_0, try a.memory(op: op)), (DNNL_ARG_SRC_1, try bb.memory(op: op)), (DNNL_ARG_DST, try result.memory(op: op))])
    return result
}

/// a * b elementwise, for tensors of one shape.
public func multiply(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try requireSameShape("multiply", a, b)
    let bb = try b.reordered(to: a.descriptor, op: "multiply")
    let result = try map2(a, bb) { $0 * $1 }
    if Tensor.recording([a, b]) {
        let (savedA, savedB) = (a.detached(), bb.detached())
        result.record("multiply", inputs: [a, b]) { g in
            let g = try g.reordered(to: savedA.descriptor, op: "multiply")
            return [try map2(g, savedB) { $0 * $1 }, try map2(g, savedA) { $0 * $1 }]
        }
    }
    return result
}

/// x * factor.
public func scale(_ x: Tensor, by factor: Float) throws -> Tensor {
    try x.requireFloat32("scale")
    let result = map1(x) { $0 * factor }
    if Tensor.recording([x]) {
        result.record("scale", inputs: [x]) { g in [map1(g) { $0 * factor }] }
    }
    return result
}

public func + (a: Tensor, b: Tensor) throws -> Tensor { try add(a, b) }
public func * (a: Tensor, b: Tensor) throws -> Tensor { try multiply(a, b) }
public func * (a: Tensor, b: Float) throws -> Tensor { try scale(a, by: b) }

func requireSameShape(_ op: String, _ a: Tensor, _ b: Tensor) throws {
    guard a.shape == b.shape else { throw OpError(op: op, "shapes differ: \(a.shape) and \(b.shape)") }
    try a.requireFloat32(op)
    try b.requireFloat32(op)
}

/// f applied to every stored element (padding included: f(0) must be 0 where the layout pads,
/// which holds for the linear maps used here).
func map1(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
    let result = Tensor(empty: x.descriptor)
    let (px, pr) = (x.floats, result.floats)
    for i in 0..<x.physicalCount { pr[i] = f(px[i]) }
    return result
}

/// f over two tensors of the same layout.
func map2(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) throws -> Tensor {
    precondition(a.descriptor == b.descriptor)
    let result = Tensor(empty: a.descriptor)
    let (pa, pb, pr) = (a.floats, b.floats, result.floats)
    for i in 0..<a.physicalCount { pr[i] = f(pa[i], pb[i]) }
    return result
}
