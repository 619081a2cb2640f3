import Base

/// A fully connected layer's weights, `y = x Wᵀ + b` with `W` `[outputs, inputs]` as PyTorch
/// keeps it, in the form the fastest GEMM here reads: `PanelGEMM` panels (16 or 32 outputs wide) where
/// it has a kernel (x86-64) and `outputs` is a multiple of 32, else row-major for OpenBLAS (`sgemv` for one
/// row, `sgemm` for more). The iresnet head (512 x 25088, 51 MB) streams its weights once per
/// batch either way; PanelGEMM does it at the memory's speed where OpenBLAS's generic kernels
/// (the Prescott ones it picks for an unnamed Xeon, docs/performance.md) did not.
public struct DenseLayer: Sendable {
    public let inputs: Int
    public let outputs: Int
    /// Whether `values` holds PanelGEMM panels (`[outputs/w, inputs, w]`, `w` =
    /// `PanelGEMM.panelWidth`) or `W` row-major.
    public let panels: Bool
    let values: [Float]
    public let bias: [Float]

    /// - Parameters:
    ///   - weights: `W`, `[outputs, inputs]` row-major.
    ///   - panels: whether to pack for PanelGEMM; granted only where PanelGEMM has a
    ///     kernel (`PanelGEMM.hostKernel`) and when `outputs` is a multiple of 32.
    public init(weights: [Float], bias: [Float], outputs: Int, inputs: Int, panels: Bool) {
        precondition(weights.count == outputs * inputs && bias.count == outputs, "dense layer: \(outputs) x \(inputs) weights and \(outputs) biases")
        self.inputs = inputs
        self.outputs = outputs
        self.bias = bias
        self.panels = panels && PanelGEMM.hostKernel != nil && PanelGEMM.channelsFit(outputs)
        if self.panels {
            let width = PanelGEMM.panelWidth
            values = [Float](unsafeUninitializedCapacity: weights.count) { u, initialized in
                for o in 0..<outputs {
                    let panel = u.baseAddress! + (o / width) * inputs * width + o % width
                    for j in 0..<inputs { panel[j * width] = weights[o * inputs + j] }
                }
                initialized = weights.count
            }
        } else {
            values = weights
        }
    }

    /// `y = x Wᵀ + b` for `rows` rows of `x` (`[rows, inputs]`) into `y` (`[rows, outputs]`,
    /// overwritten), split by output columns over `Parallel.threadCount` parts.
    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        let k = inputs, n = outputs
        values.withUnsafeBufferPointer { w in
            nonisolated(unsafe) let x = x, y = y, w = w.baseAddress!
            if panels {
                let width = PanelGEMM.panelWidth
                Parallel.forEachPart(n / width) { part in
                    let first = part.lowerBound * width
                    PanelGEMM.multiply(m: rows, n: part.count * width, k: k, a: x, lda: k, panels: w + first * k,
                                       c: y + first, ldc: n)
                }
                for r in 0..<rows { for j in 0..<n { y[r * n + j] += bias[j] } }
            } else {
                for r in 0..<rows { for j in 0..<n { y[r * n + j] = bias[j] } }
                if rows == 1 {
                    // One row: a matrix-vector product, which reads W once, in place (a GEMM
                    // would first copy it); split by output rows.
                    Parallel.forEachPart(n) { part in
                        BLAS.sgemv(m: part.count, n: k, a: w + part.lowerBound * k, lda: k, x: x, beta: 1, y: y + part.lowerBound)
                    }
                } else {
                    Parallel.sgemm(transposeB: true, m: rows, n: n, k: k, a: x, lda: k, b: w, ldb: k, beta: 1, c: y, ldc: n)
                }
            }
        }
    }
}
