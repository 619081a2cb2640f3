import Base
/// The geometry of a 2-D convolution over a batch held channel-major, `[C, N, H, W]`.
///
/// The engine keeps activations as `[C, N, H, W]` (channel outermost) rather than NCHW so
/// that one GEMM covers the whole batch: `weights [Cout, Cin·kh·kw] × columns [Cin·kh·kw,
/// N·Ho·Wo]` lands directly in `[Cout, N, Ho, Wo]`. For `N == 1` the layout is NCHW.
public struct ConvGeometry: Sendable, Equatable, CustomStringConvertible {
    public var inChannels: Int
    public var outChannels: Int
    public var batch: Int
    public var height: Int
    public var width: Int
    public var kernel: Int
    public var stride: Int
    public var padding: Int

    public init(inChannels: Int, outChannels: Int, batch: Int, height: Int, width: Int,
                kernel: Int, stride: Int = 1, padding: Int = 0) {
        precondition(inChannels > 0 && outChannels > 0 && batch > 0 && height > 0 && width > 0)
        precondition(kernel > 0 && stride > 0 && padding >= 0)
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.batch = batch
        self.height = height
        self.width = width
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    /// Output height: `(H + 2·pad − k) / stride + 1`.
    public var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    /// Output width: `(W + 2·pad − k) / stride + 1`.
    public var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    /// Rows of the column matrix: `Cin·k·k`, the GEMM's inner dimension.
    public var patchSize: Int { inChannels * kernel * kernel }
    /// Output positions per channel over the whole batch: `N·Ho·Wo`.
    public var outPositions: Int { batch * outHeight * outWidth }
    /// The layer class `bench --phases` names: kernel, stride and input map, e.g. "3x3/2 56x56".
    public var phaseLabel: String { "\(kernel)x\(kernel)/\(stride) \(height)x\(width)" }
    /// Multiply-adds x 2 of the convolution as im2col + GEMM computes it.
    public var gemmFlops: Double { 2 * Double(outPositions) * Double(patchSize) * Double(outChannels) }
    /// Elements of the input, `Cin·N·H·W`.
    public var inputCount: Int { inChannels * batch * height * width }
    /// Elements of the output, `Cout·N·Ho·Wo`.
    public var outputCount: Int { outChannels * outPositions }
    /// Elements of the weights, `Cout·Cin·k·k` (PyTorch's `[Cout, Cin, k, k]` order).
    public var weightCount: Int { outChannels * patchSize }
    /// Multiply-adds ×2 of the convolution.
    public var flops: Double { 2 * Double(outputCount) * Double(patchSize) }

    public var description: String {
        "conv \(inChannels)->\(outChannels) k\(kernel) s\(stride) p\(padding) on \(batch)x\(height)x\(width)"
    }
}

/// Convolutions over `[C, N, H, W]` activations with PyTorch-layout weights `[Cout, Cin, k, k]`
/// and an optional per-output-channel bias.
public enum Convolution {
    /// The reference convolution: seven plain loops, accumulated in Double. Slow; kept to check
    /// every optimized kernel against.
    ///
    /// - Parameters:
    ///   - input: `[Cin, N, H, W]`, `geometry.inputCount` elements.
    ///   - weights: `[Cout, Cin, k, k]`.
    ///   - bias: `Cout` values, or nil for none.
    /// - Returns: `[Cout, N, Ho, Wo]`.
    public static func naive(
        _ g: ConvGeometry, input: [Float], weights: [Float], bias: [Float]? = nil
    ) -> [Float] {
        precondition(input.count == g.inputCount && weights.count == g.weightCount)
        precondition(bias == nil || bias!.count == g.outChannels)
        let ho = g.outHeight, wo = g.outWidth, k = g.kernel
        var out = [Float](repeating: 0, count: g.outputCount)
        for co in 0..<g.outChannels {
            for n in 0..<g.batch {
                for oy in 0..<ho {
                    for ox in 0..<wo {
                        var acc = Double(bias?[co] ?? 0)
                        for ci in 0..<g.inChannels {
                            for ky in 0..<k {
                                let iy = oy * g.stride - g.padding + ky
                                if iy < 0 || iy >= g.height { continue }
                                for kx in 0..<k {
                                    let ix = ox * g.stride - g.padding + kx
                                    if ix < 0 || ix >= g.width { continue }
                                    let x = input[((ci * g.batch + n) * g.height + iy) * g.width + ix]
                                    let w = weights[((co * g.inChannels + ci) * k + ky) * k + kx]
                                    acc += Double(x) * Double(w)
                                }
                            }
                        }
                        out[((co * g.batch + n) * ho + oy) * wo + ox] = Float(acc)
                    }
                }
            }
        }
        return out
    }

    /// Writes the column matrix of output positions `[start, start + count)` (positions are
    /// numbered over `N·Ho·Wo`): row `(ci, ky, kx)`, column `p − start`, leading dimension
    /// `count`. Zero padding is written as zeros.
    ///
    /// - Parameters:
    ///   - input: `[Cin, N, H, W]`.
    ///   - columns: at least `patchSize · count` floats.
    public static func im2col(
        _ g: ConvGeometry, input: UnsafePointer<Float>, start: Int, count: Int,
        columns: UnsafeMutablePointer<Float>, inputAffine: InputAffine? = nil
    ) {
        let ho = g.outHeight, wo = g.outWidth, k = g.kernel, s = g.stride, pad = g.padding
        let h = g.height, w = g.width, hw = h * w, planeStride = g.batch * hw
        let perImage = ho * wo
        nonisolated(unsafe) let input = input, columns = columns, affine = inputAffine
        Parallel.forEachPart(g.inChannels) { channels in
        for ci in channels {
            let plane = input + ci * planeStride
            // The input's per-channel affine map (an inference BatchNorm), applied as values are
            // copied; padding stays 0, exactly as when BatchNorm runs before the padded conv.
            let scale = affine?.scale[ci] ?? 1, shift = affine?.shift[ci] ?? 0
            let mapped = affine != nil
            for ky in 0..<k {
                for kx in 0..<k {
                    var dst = columns + ((ci * k + ky) * k + kx) * count
                    var p = start
                    let end = start + count
                    while p < end {
                        // One output row (fixed n, oy) at a time, clipped to the range.
                        let n = p / perImage, r = p % perImage
                        let oy = r / wo, ox0 = r % wo
                        let run = min(wo - ox0, end - p)
                        let iy = oy * s - pad + ky
                        if iy < 0 || iy >= h {
                            dst.update(repeating: 0, count: run)
                        } else {
                            let src = plane + n * hw + iy * w
                            if s == 1 {
                                // ix = ox - pad + kx; valid ox in [pad - kx, w + pad - kx).
                                let lo = max(ox0, pad - kx), hi = min(ox0 + run, w + pad - kx)
                                var i = 0
                                while ox0 + i < lo && i < run { dst[i] = 0; i += 1 }
                                if hi > lo {
                                    if mapped {
                                        let d = dst + (lo - ox0), from = src + (lo - pad + kx)
                                        for j in 0..<(hi - lo) { d[j] = from[j] * scale + shift }
                                    } else {
                                        (dst + (lo - ox0)).update(from: src + (lo - pad + kx), count: hi - lo)
                                    }
                                    i = hi - ox0
                                }
                                while i < run { dst[i] = 0; i += 1 }
                            } else {
                                for i in 0..<run {
                                    let ix = (ox0 + i) * s - pad + kx
                                    dst[i] = (ix >= 0 && ix < w) ? (mapped ? src[ix] * scale + shift : src[ix]) : 0
                                }
                            }
                        }
                        dst += run
                        p += run
                    }
                }
            }
        }
        }
    }

    /// The exact path: im2col in column tiles + `Parallel.sgemm`, bias added afterwards.
    ///
    /// - Parameters:
    ///   - input: `[Cin, N, H, W]`.
    ///   - weights: `[Cout, Cin·k·k]` row-major (PyTorch's layout).
    ///   - bias: `Cout` values or nil.
    ///   - output: `[Cout, N, Ho, Wo]`, `outputCount` floats, overwritten.
    ///   - scratch: column buffer; grown as needed and reused across calls.
    ///   - maxScratch: the most floats a column tile may use (bounds memory at large batches).
    ///   - inputAffine: a per-input-channel `x · scale + shift` applied as the input is read
    ///     (an inference BatchNorm before the conv; padding stays zero).
    ///   - epilogue: what follows the bias, fused into the same pass over the output.
    public static func im2colGEMM(
        _ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
        scratch: inout [Float], maxScratch: Int = 1 << 23,
        inputAffine: InputAffine? = nil, epilogue: Epilogue = .none
    ) {
        // OpenBLAS held at one thread: the GEMMs are split by `Parallel.sgemm`.
        BLAS.withSingleThreadedKernels {
            let positions = g.outPositions, kdim = g.patchSize
            let direct = g.kernel == 1 && g.stride == 1 && g.padding == 0 && inputAffine == nil
            if direct {
                // A 1x1 stride-1 convolution is a plain GEMM on the input.
                Parallel.sgemm(m: g.outChannels, n: positions, k: kdim, a: weights, lda: kdim,
                               b: input, ldb: positions, c: output, ldc: positions)
            } else {
                let tile = max(min(positions, maxScratch / kdim), min(positions, 256))
                if scratch.count < tile * kdim { scratch = [Float](repeating: 0, count: tile * kdim) }
                scratch.withUnsafeMutableBufferPointer { cols in
                    var start = 0
                    while start < positions {
                        let count = min(tile, positions - start)
                        im2col(g, input: input, start: start, count: count, columns: cols.baseAddress!, inputAffine: inputAffine)
                        Parallel.sgemm(m: g.outChannels, n: count, k: kdim, a: weights, lda: kdim,
                                       b: cols.baseAddress!, ldb: count, c: output + start, ldc: positions)
                        start += count
                    }
                }
            }
            if bias == nil, case .none = epilogue { return }
            nonisolated(unsafe) let output = output, bias = bias, epilogue = epilogue
            Parallel.forEachPart(g.outChannels) { channels in
                for co in channels {
                    let b = bias?[co] ?? 0
                    let row = output + co * positions
                    switch epilogue {
                    case .none:
                        for i in 0..<positions { row[i] += b }
                    case let .prelu(slope):
                        let a = slope[co]
                        for i in 0..<positions {
                            let v = row[i] + b
                            row[i] = v < 0 ? v * a : v
                        }
                    case let .add(residual):
                        let r = residual + co * positions
                        for i in 0..<positions { row[i] = (row[i] + b) + r[i] }
                    }
                }
            }
        }
    }
}

/// A per-channel affine map `x · scale[c] + shift[c]` (an inference BatchNorm), `C` values each.
public struct InputAffine {
    public var scale: UnsafePointer<Float>
    public var shift: UnsafePointer<Float>
    public init(scale: UnsafePointer<Float>, shift: UnsafePointer<Float>) {
        self.scale = scale
        self.shift = shift
    }
}

/// What a convolution does to each output after adding its bias, in the same pass.
public enum Epilogue {
    case none
    /// PReLU with one slope per output channel.
    case prelu(UnsafePointer<Float>)
    /// Adds a tensor of the output's shape `[Cout, N, Ho, Wo]` (a residual connection).
    case add(UnsafePointer<Float>)
}
