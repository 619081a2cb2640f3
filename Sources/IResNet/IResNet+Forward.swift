import Tensor

extension IResNet {
    /// Images processed together; larger batches run in chunks of this many so that memory
    /// stays bounded (about 0.5 GiB of activations and columns at 16 for iresnet100).
    public static let chunkSize = 16

    /// Embeds a batch of preprocessed images.
    ///
    /// - Parameters:
    ///   - images: NCHW float32, `count × 3 × 112 × 112` values.
    ///   - count: N, the number of images.
    /// - Returns: `count × embeddingSize` raw (unnormalised) embeddings, row-major. The L2
    ///   norm of a row is MagFace's quality score.
    public func embed(_ images: UnsafeBufferPointer<Float>, count: Int) -> [Float] {
        let size = IResNetConfig.inputSize
        let perImage = 3 * size * size
        precondition(count >= 0 && images.count == count * perImage,
                     "embed expects \(count) x 3 x \(size) x \(size) floats, got \(images.count)")
        var out = [Float](repeating: 0, count: count * config.embeddingSize)
        var scratch: [Float] = []
        var start = 0
        while start < count {
            let n = min(Self.chunkSize, count - start)
            let chunk = UnsafeBufferPointer(rebasing: images[(start * perImage)..<((start + n) * perImage)])
            let e = forward(chunk, n: n, scratch: &scratch)
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<e.count { o[start * config.embeddingSize + i] = e[i] }
            }
            start += n
        }
        return out
    }

    /// Convenience for arrays: `images.count` must be a multiple of `3 × 112 × 112`.
    public func embed(_ images: [Float]) -> [Float] {
        images.withUnsafeBufferPointer { embed($0, count: $0.count / (3 * IResNetConfig.inputSize * IResNetConfig.inputSize)) }
    }

    private func forward(_ images: UnsafeBufferPointer<Float>, n: Int, scratch: inout [Float]) -> [Float] {
        var h = IResNetConfig.inputSize, w = h
        var x = uninitialized(images.count)
        x.withUnsafeMutableBufferPointer { ChannelOps.nchwToCNHW(images.baseAddress!, $0.baseAddress!, n: n, c: 3, plane: h * w) }
        x = run(stem, x, n: n, h: &h, w: &w, scratch: &scratch)
        applyPReLU(&x, stemPReLU, plane: n * h * w)
        for block in blocks {
            let cin = block.conv1.inChannels
            var t = x
            t.withUnsafeMutableBufferPointer { tb in
                ChannelOps.affine(tb.baseAddress!, channels: cin, plane: n * h * w, scale: block.bn1Scale, shift: block.bn1Shift)
            }
            var h1 = h, w1 = w
            var a = run(block.conv1, t, n: n, h: &h1, w: &w1, scratch: &scratch)
            t = []
            applyPReLU(&a, block.prelu, plane: n * h1 * w1)
            var h2 = h1, w2 = w1
            var o = run(block.conv2, a, n: n, h: &h2, w: &w2, scratch: &scratch)
            a = []
            if let ds = block.downsample {
                var hd = h, wd = w
                let identity = run(ds, x, n: n, h: &hd, w: &wd, scratch: &scratch)
                precondition(hd == h2 && wd == w2)
                add(&o, identity)
            } else {
                add(&o, x)
            }
            x = o
            h = h2
            w = w2
        }
        // [C, N, 7, 7] -> [N, C·49], then fc (+ folded BNs): [N, K] × [dim, K]ᵀ.
        let c = config.widths[3], k = config.fcInputs, dim = config.embeddingSize
        precondition(h == IResNetConfig.finalSize && w == IResNetConfig.finalSize && x.count == n * k)
        var flat = uninitialized(n * k)
        x.withUnsafeBufferPointer { xb in
            flat.withUnsafeMutableBufferPointer { ChannelOps.cnhwToNCHW(xb.baseAddress!, $0.baseAddress!, n: n, c: c, plane: h * w) }
        }
        var e = [Float](repeating: 0, count: n * dim)
        for i in 0..<n { for j in 0..<dim { e[i * dim + j] = fcBias[j] } }
        BLAS.sgemm(transposeB: true, m: n, n: dim, k: k, a: flat, lda: k, b: fcWeight, ldb: k, beta: 1, c: &e, ldc: dim)
        return e
    }

    private func run(_ conv: FoldedConv, _ input: [Float], n: Int, h: inout Int, w: inout Int, scratch: inout [Float]) -> [Float] {
        let g = conv.geometry(batch: n, height: h, width: w)
        var out = uninitialized(g.outputCount)
        input.withUnsafeBufferPointer { ib in
            conv.weights.withUnsafeBufferPointer { wb in
                conv.bias.withUnsafeBufferPointer { bb in
                    out.withUnsafeMutableBufferPointer { ob in
                        Convolution.im2colGEMM(g, input: ib.baseAddress!, weights: wb.baseAddress!, bias: bb.baseAddress!,
                                               output: ob.baseAddress!, scratch: &scratch)
                    }
                }
            }
        }
        h = g.outHeight
        w = g.outWidth
        return out
    }

    private func applyPReLU(_ x: inout [Float], _ slope: [Float], plane: Int) {
        x.withUnsafeMutableBufferPointer { ChannelOps.prelu($0.baseAddress!, channels: slope.count, plane: plane, slope: slope) }
    }

    private func add(_ x: inout [Float], _ y: [Float]) {
        precondition(x.count == y.count)
        x.withUnsafeMutableBufferPointer { xb in y.withUnsafeBufferPointer { ChannelOps.add(xb.baseAddress!, $0.baseAddress!, count: xb.count) } }
    }

    private func uninitialized(_ count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }
}
