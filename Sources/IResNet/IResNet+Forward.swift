import Tensor
import Base

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
        // Work buffers from an earlier call, so that they are not allocated (and paged in)
        // again for every batch; concurrent callers each get their own.
        var scratch = scratchPool.withLock { $0.popLast() } ?? Scratch()
        defer { scratchPool.withLock { $0.append(scratch) } }
        var start = 0
        while start < count {
            let n = min(Self.chunkSize, count - start)
            let chunk = UnsafeBufferPointer(rebasing: images[(start * perImage)..<((start + n) * perImage)])
            let e = BLAS.withSingleThreadedKernels { forward(chunk, n: n, scratch: &scratch) }
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<e.count { o[start * config.embeddingSize + i] = e[i] }
            }
            start += n
        }
        return out
    }

    /// Embeds images with flip fusion (as insightface's and MagFace's evaluations do): the
    /// embedding of each image plus that of its mirror image.
    ///
    /// - Parameters:
    ///   - pairs: `count × 2 × 3 × 112 × 112` values: image i at 2i, its mirror at 2i + 1.
    ///   - count: the number of images (half the number of inputs).
    /// - Returns: `count × embeddingSize` raw fused embeddings.
    public func embedFlipFused(_ pairs: UnsafeBufferPointer<Float>, count: Int) -> [Float] {
        let both = embed(pairs, count: 2 * count)
        let d = config.embeddingSize
        var out = [Float](repeating: 0, count: count * d)
        for i in 0..<count {
            for j in 0..<d { out[i * d + j] = both[2 * i * d + j] + both[(2 * i + 1) * d + j] }
        }
        return out
    }

    /// Convenience for arrays: `images.count` must be a multiple of `3 × 112 × 112`.
    public func embed(_ images: [Float]) -> [Float] {
        images.withUnsafeBufferPointer { embed($0, count: $0.count / (3 * IResNetConfig.inputSize * IResNetConfig.inputSize)) }
    }

    /// The forward pass of one chunk, inside `BLAS.withSingleThreadedKernels`: every pass and
    /// GEMM is split over `Parallel.threadCount` parts.
    private func forward(_ images: UnsafeBufferPointer<Float>, n: Int, scratch: inout Scratch) -> [Float] {
        var h = IResNetConfig.inputSize, w = h
        let blocked = mode == .fast
        // The fast path runs in [N, C/8, H, W, 8] from the stem on (its 3 channels padded to 8
        // with zeros), the exact path in [C, N, H, W].
        var x = scratch.take(blocked ? n * stem.inChannels * h * w : images.count)
        Phases.measure("layout changes", "input, head input") {
            x.withUnsafeMutableBufferPointer {
                if blocked {
                    Blocked.fromNCHW(images.baseAddress!, $0.baseAddress!, n: n, c: 3, plane: h * w)
                } else {
                    ChannelOps.nchwToCNHW(images.baseAddress!, $0.baseAddress!, n: n, c: 3, plane: h * w)
                }
            }
        }
        let image = x
        x = stemPReLU.withUnsafeBufferPointer { slope in
            run(stem, image, n: n, h: &h, w: &w, scratch: &scratch, epilogue: .prelu(slope.baseAddress!))
        }
        scratch.give(image)
        for block in blocks {
            // bn1 is applied as conv1 reads its input (padding stays zero, as in PyTorch, where
            // bn1 runs before the padded conv); bias + PReLU and bias + residual are fused
            // into the convolutions' output passes.
            var h1 = h, w1 = w
            let a = block.bn1Scale.withUnsafeBufferPointer { scale in
                block.bn1Shift.withUnsafeBufferPointer { shift in
                    block.prelu.withUnsafeBufferPointer { slope in
                        run(block.conv1, x, n: n, h: &h1, w: &w1, scratch: &scratch,
                            inputAffine: InputAffine(scale: scale.baseAddress!, shift: shift.baseAddress!),
                            epilogue: .prelu(slope.baseAddress!))
                    }
                }
            }
            var identity = x
            if let ds = block.downsample {
                var hd = h, wd = w
                identity = run(ds, x, n: n, h: &hd, w: &wd, scratch: &scratch)
            }
            var h2 = h1, w2 = w1
            let out = identity.withUnsafeBufferPointer { residual in
                run(block.conv2, a, n: n, h: &h2, w: &w2, scratch: &scratch, epilogue: .add(residual.baseAddress!))
            }
            precondition(out.count == identity.count, "residual shape mismatch")
            // The block's input, conv1's output and the downsampled identity go back to the
            // pool for the next blocks (without a downsample, the identity is the input).
            scratch.give(a)
            if block.downsample != nil { scratch.give(identity) }
            scratch.give(x)
            x = out
            h = h2
            w = w2
        }
        // [C, N, 7, 7] or [N, C/8, 7, 7, 8] -> [N, C·49], then fc (+ folded BNs): [N, K] × [dim, K]ᵀ.
        let c = config.widths[3], k = config.fcInputs, dim = config.embeddingSize
        precondition(h == IResNetConfig.finalSize && w == IResNetConfig.finalSize && x.count == n * k)
        var flat = scratch.take(n * k)
        Phases.measure("layout changes", "input, head input") {
        x.withUnsafeBufferPointer { xb in
            flat.withUnsafeMutableBufferPointer {
                if blocked {
                    Blocked.toNCHW(xb.baseAddress!, $0.baseAddress!, n: n, c: c, plane: h * w)
                } else {
                    ChannelOps.cnhwToNCHW(xb.baseAddress!, $0.baseAddress!, n: n, c: c, plane: h * w)
                }
            }
        }
        }
        var e = [Float](repeating: 0, count: n * dim)
        Phases.measure("head (fc, folded BNs)", "fc", flops: 2 * Double(n * k * dim)) {
            flat.withUnsafeBufferPointer { a in
                e.withUnsafeMutableBufferPointer { fc.apply(a.baseAddress!, rows: n, into: $0.baseAddress!) }
            }
        }
        scratch.give(flat)
        scratch.give(x)
        return e
    }

    /// One convolution with the algorithm its weights were prepared for.
    private func run(
        _ conv: FoldedConv, _ input: [Float], n: Int, h: inout Int, w: inout Int, scratch: inout Scratch,
        inputAffine: InputAffine? = nil, epilogue: Epilogue = .none
    ) -> [Float] {
        let g = conv.geometry(batch: n, height: h, width: w)
        var out = scratch.take(g.outputCount)
        input.withUnsafeBufferPointer { ib in
            conv.bias.withUnsafeBufferPointer { bb in
                out.withUnsafeMutableBufferPointer { ob in
                    let input = ib.baseAddress!, bias = bb.baseAddress!, output = ob.baseAddress!
                    switch conv.weights {
                    case let .winograd(u):
                        Winograd.convolve(g, input: input, weights: u, bias: bias, output: output,
                                          workspace: &scratch.winograd, inputAffine: inputAffine, epilogue: epilogue)
                    case let .blocked(weights):
                        Blocked.im2colGEMM(g, input: input, weights: weights, bias: bias, output: output,
                                           scratch: &scratch.columns, inputAffine: inputAffine, epilogue: epilogue)
                    case let .channelMajor(weights):
                        Phases.measure(conv.inChannels == 3 ? "stem (im2col, channel-major)" : "im2col convs (channel-major)",
                                       Phases.isEnabled ? g.phaseLabel : "", flops: g.gemmFlops) {
                            weights.withUnsafeBufferPointer { wb in
                                Convolution.im2colGEMM(g, input: input, weights: wb.baseAddress!, bias: bias, output: output,
                                                       scratch: &scratch.columns, inputAffine: inputAffine, epilogue: epilogue)
                            }
                        }
                    }
                }
            }
        }
        h = g.outHeight
        w = g.outWidth
        return out
    }
}

/// Work buffers reused from layer to layer and, through `IResNet.scratchPool`, from call to call.
struct Scratch: Sendable {
    var columns: [Float] = []
    var winograd = Winograd.Workspace()
    /// Activation buffers given back by earlier layers and passes, by size. Without them each
    /// layer's output was a fresh allocation; on a thread other than the main one (a worker's
    /// compute thread) glibc serves those from an arena whose heaps it unmaps and trims with
    /// MADV_DONTNEED as soon as they empty, so every batch faulted ~54 MB of iresnet100's
    /// activations back in (docs/performance.md).
    var activations: [Int: [[Float]]] = [:]

    /// A buffer of `count` floats whose contents are not meaningful: the caller writes every
    /// element before reading it.
    mutating func take(_ count: Int) -> [Float] {
        if let buffer = activations[count]?.popLast() { return buffer }
        return [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    /// Gives `buffer` back for a later `take` of its size.
    mutating func give(_ buffer: [Float]) {
        activations[buffer.count, default: []].append(buffer)
    }
}
