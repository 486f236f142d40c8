import CDNNL

extension OneDNNBackend {
    /// output = input . weight^T + bias on oneDNN's sgemm.
    package func linear(_ input: Tensor, weight: Tensor, bias: Tensor?, recording: Bool) throws -> (Tensor, Pullback?) {
        let op = "linear"
        let (n, k, o) = (input.shape[0], input.shape[1], weight.shape[0])
        let x = try input.contiguous(), w = try weight.contiguous()
        let output = Tensor(empty: MemoryDescriptor(plain: [n, o]))
        try sgemm(op, transA: false, transB: true, m: n, n: o, k: k, a: x, b: w, c: output)
        if let bias {
            let b = try bias.contiguous().floats, y = output.floats
            for row in 0..<n { for j in 0..<o { y[row * o + j] += b[j] } }
        }
        guard recording else { return (output, nil) }
        let (savedX, savedW) = (x.detached(), w.detached())
        let (needX, needW, needB) = (input.requiresGrad, weight.requiresGrad, bias?.requiresGrad == true)
        return (output, { gradOutput in
            let dy = try gradOutput.contiguous()
            var dx: Tensor?, dw: Tensor?, db: Tensor?
            if needX {
                dx = Tensor(empty: MemoryDescriptor(plain: [n, k]))
                try sgemm(op, transA: false, transB: false, m: n, n: k, k: o, a: dy, b: savedW, c: dx!)
            }
            if needW {
                dw = Tensor(empty: MemoryDescriptor(plain: [o, k]))
                try sgemm(op, transA: true, transB: false, m: o, n: k, k: n, a: dy, b: savedX, c: dw!)
            }
            if needB {
                let result = try Tensor.zeros([o], device: .cpu)
                let g = dy.floats, r = result.floats
                for row in 0..<n { for j in 0..<o { r[j] += g[row * o + j] } }
                db = result
            }
            return [dx, dw, db]
        })
    }
}


/// C[m, n] = op(A) . op(B), row-major, where op transposes when asked.
private func sgemm(_ op: String, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: Tensor, b: Tensor, c: Tensor) throws {
    let lda = transA ? m : k, ldb = transB ? k : n
    try check(dnnl_sgemm(CChar(UInt8(ascii: transA ? "T" : "N")), CChar(UInt8(ascii: transB ? "T" : "N")),
                         Int64(m), Int64(n), Int64(k), 1, a.floats, Int64(lda), b.floats, Int64(ldb), 0, c.floats, Int64(n)),
              op: op, "sgemm m \(m) n \(n) k \(k)")
}
