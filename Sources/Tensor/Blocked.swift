import Base

/// The fast path's activation layout, `[N, C/8, H, W, 8]` (oneDNN's nChw8c): channels in
/// blocks of eight, each pixel's eight channels contiguous. Every per-channel operation then
/// works on whole 8-lane vectors (one AVX register): a tile of the Winograd transforms, the
/// rows im2col copies, bias, PReLU and the residual add. Channel counts must be multiples of 8.
public enum Blocked {
    /// Channels per block, the vector width.
    public static let width = 8

    /// The 8-lane vector the blocked kernels compute with.
    public typealias Vector = SIMD8<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self)
    }

    /// Whether `channels` fits the layout (a positive multiple of 8).
    public static func supports(channels: Int) -> Bool {
        channels > 0 && channels % width == 0
    }

    /// `[C, N, H, W]` (the exact path's layout) to `[N, C/8, H, W, 8]`.
    public static func fromChannelMajor(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, n: Int, c: Int, plane: Int
    ) {
        precondition(supports(channels: c), "blocked layout needs a multiple of 8 channels, got \(c)")
        nonisolated(unsafe) let src = src, dst = dst
        Parallel.forEachPart(n * c / width) { blocks in
            for nb in blocks {
                let image = nb / (c / width), cb = nb % (c / width)
                let out = dst + nb * plane * width
                for lane in 0..<width {
                    let row = src + ((cb * width + lane) * n + image) * plane
                    for i in 0..<plane { out[i * width + lane] = row[i] }
                }
            }
        }
    }

    /// NCHW `[N, C, H, W]` (the preprocessed images) to `[N, ⌈C/8⌉, H, W, 8]`, the lanes past
    /// `C` zero: the 3-channel stem then runs in the blocked layout like the other convolutions,
    /// its weights zero-padded to 8 input channels to match (`IResNet`).
    public static func fromNCHW(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, n: Int, c: Int, plane: Int
    ) {
        let blocks = (c + width - 1) / width
        nonisolated(unsafe) let src = src, dst = dst
        Parallel.forEachPart(n * blocks) { part in
            for nb in part {
                let image = nb / blocks, cb = nb % blocks
                let out = dst + nb * plane * width
                for lane in 0..<width {
                    let channel = cb * width + lane
                    if channel < c {
                        let row = src + (image * c + channel) * plane
                        for i in 0..<plane { out[i * width + lane] = row[i] }
                    } else {
                        for i in 0..<plane { out[i * width + lane] = 0 }
                    }
                }
            }
        }
    }

    /// `[N, C/8, H, W, 8]` to NCHW `[N, C, H, W]` (the flattening order of the fc layer).
    public static func toNCHW(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, n: Int, c: Int, plane: Int
    ) {
        precondition(supports(channels: c), "blocked layout needs a multiple of 8 channels, got \(c)")
        for nb in 0..<(n * c / width) {
            let image = nb / (c / width), cb = nb % (c / width)
            let block = src + nb * plane * width
            for lane in 0..<width {
                let row = dst + (image * c + cb * width + lane) * plane
                for i in 0..<plane { row[i] = block[i * width + lane] }
            }
        }
    }

    /// A convolution on blocked activations: im2col with one row per output position (each
    /// row the `k·k` input pixels' channels, copied eight at a time), a GEMM against the
    /// reordered weights, and a pass that adds the bias and the epilogue while writing the
    /// blocked output. Positions are cut into `Parallel.threadCount` parts, and each part does
    /// all three for its own rows, so its columns and products stay in its core's cache.
    ///
    /// - Parameters:
    ///   - input: `[N, Cin/8, H, W, 8]`.
    ///   - weights: the weights reordered (`BlockedWeights`).
    ///   - bias: `Cout` values or nil.
    ///   - output: `[N, Cout/8, Ho, Wo, 8]`, overwritten.
    ///   - scratch: columns and products; grown as needed and reused across calls.
    ///   - maxScratch: the most floats a tile of positions may use.
    ///   - inputAffine: a per-input-channel `x · scale + shift` applied to the image's values as
    ///     they are copied (padding stays zero).
    ///   - epilogue: what follows the bias, in the pass that writes the output.
    public static func im2colGEMM(
        _ g: ConvGeometry, input: UnsafePointer<Float>, weights: BlockedWeights,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
        scratch: inout [Float], maxScratch: Int = 1 << 22,
        inputAffine: InputAffine? = nil, epilogue: Epilogue = .none
    ) {
        precondition(supports(channels: g.inChannels) && supports(channels: g.outChannels), "\(g): channels not multiples of 8")
        precondition(weights.rows == g.patchSize && weights.outChannels == g.outChannels, "weights do not fit \(g)")
        let kdim = g.patchSize, cout = g.outChannels, positions = g.outPositions
        let tile = max(min(positions, maxScratch / (kdim + cout)), min(positions, 64))
        scratch.growUninitialized(to: tile * (kdim + cout))
        BLAS.withSingleThreadedKernels {
            weights.values.withUnsafeBufferPointer { w in
            scratch.withUnsafeMutableBufferPointer { buffer in
                nonisolated(unsafe) let columns = buffer.baseAddress!, products = buffer.baseAddress! + tile * kdim
                nonisolated(unsafe) let input = input, output = output, bias = bias, epilogue = epilogue
                nonisolated(unsafe) let affine = inputAffine, w = w.baseAddress!
                let panels = weights.panels
                var first = 0
                while first < positions {
                    let count = min(tile, positions - first), start = first
                    Phases.measure("blocked im2col convs (gather, GEMM, scatter)", Phases.isEnabled ? g.phaseLabel : "",
                                   flops: 2 * Double(count * kdim * cout)) {
                    Parallel.forEachPart(count) { part in
                        // In runs of rows whose columns fit in L2 (1 MiB), so that the GEMM reads
                        // them from cache however many weight panels it walks.
                        let run = max(6, (262_144 / kdim) / 6 * 6)
                        var first = part.lowerBound
                        while first < part.upperBound {
                            let rows = first..<min(first + run, part.upperBound)
                            for p in rows {
                                gatherRow(g, input: input, position: start + p, into: columns + p * kdim, affine: affine)
                            }
                            let a = columns + rows.lowerBound * kdim, c = products + rows.lowerBound * cout
                            if panels {
                                PanelGEMM.multiply(m: rows.count, n: cout, k: kdim, a: a, lda: kdim, panels: w, c: c, ldc: cout)
                            } else {
                                BLAS.sgemm(m: rows.count, n: cout, k: kdim, a: a, lda: kdim, b: w, ldb: cout, c: c, ldc: cout)
                            }
                            for p in rows {
                                scatterRow(g, products + p * cout, position: start + p, output: output, bias: bias, epilogue: epilogue)
                            }
                            first = rows.upperBound
                        }
                    }
                    }
                    first += count
                }
            }
            }
        }
    }

    /// Row `position` of the column matrix: for each `(ky, kx)`, the input pixel's channels
    /// (zeros in the padding), mapped by `affine` when there is one.
    @inline(__always)
    static func gatherRow(
        _ g: ConvGeometry, input: UnsafePointer<Float>, position: Int, into row: UnsafeMutablePointer<Float>,
        affine: InputAffine?
    ) {
        let ho = g.outHeight, wo = g.outWidth, h = g.height, w = g.width, cin = g.inChannels
        let n = position / (ho * wo), r = position % (ho * wo), oy = r / wo, ox = r % wo
        let blocks = cin / width, image = input + n * cin * h * w
        var dst = row
        for ky in 0..<g.kernel {
            let iy = oy * g.stride - g.padding + ky
            for kx in 0..<g.kernel {
                let ix = ox * g.stride - g.padding + kx
                if iy < 0 || iy >= h || ix < 0 || ix >= w {
                    dst.update(repeating: 0, count: cin)
                } else {
                    let pixel = image + (iy * w + ix) * width
                    if let affine {
                        for cb in 0..<blocks {
                            let v = load(pixel + cb * h * w * width)
                            store(v * load(affine.scale + cb * width) + load(affine.shift + cb * width), dst + cb * width)
                        }
                    } else {
                        for cb in 0..<blocks { store(load(pixel + cb * h * w * width), dst + cb * width) }
                    }
                }
                dst += cin
            }
        }
    }

    /// Writes one output position's `Cout` products into the blocked output, adding the bias
    /// and the epilogue.
    @inline(__always)
    static func scatterRow(
        _ g: ConvGeometry, _ products: UnsafePointer<Float>, position: Int, output: UnsafeMutablePointer<Float>,
        bias: UnsafePointer<Float>?, epilogue: Epilogue
    ) {
        let ho = g.outHeight, wo = g.outWidth, plane = ho * wo, cout = g.outChannels
        let n = position / plane, pixel = position % plane
        for ob in 0..<(cout / width) {
            var v = load(products + ob * width)
            if let bias { v += load(bias + ob * width) }
            let at = output + ((n * (cout / width) + ob) * plane + pixel) * width
            switch epilogue {
            case .none: break
            case let .prelu(slope): v = prelu(v, load(slope + ob * width))
            case let .add(residual): v += load(residual + ((n * (cout / width) + ob) * plane + pixel) * width)
            }
            store(v, at)
        }
    }

    @inline(__always)
    static func prelu(_ v: Vector, _ slope: Vector) -> Vector {
        v.replacing(with: v * slope, where: v .< 0)
    }
}

/// A convolution's weights reordered for `Blocked.im2colGEMM`: `[k·k·Cin, Cout]`, row
/// `(ky·k + kx)·Cin + ci`, either row-major (for OpenBLAS) or as `PanelGEMM` panels of
/// `w = PanelGEMM.panelWidth` output channels (`[Cout/w, k·k·Cin, w]`; `Cout` a multiple of 32).
public struct BlockedWeights: Sendable {
    /// `k·k·Cin`, the GEMM's inner dimension.
    public let rows: Int
    public let outChannels: Int
    public let panels: Bool
    public let values: [Float]

    /// Reorders PyTorch's `[Cout, Cin, k, k]`.
    public init(_ w: UnsafeBufferPointer<Float>, outChannels: Int, inChannels: Int, kernel k: Int, panels: Bool) {
        precondition(w.count == outChannels * inChannels * k * k)
        precondition(!panels || PanelGEMM.channelsFit(outChannels), "panels need a multiple of 32 output channels")
        let rows = k * k * inChannels, width = PanelGEMM.panelWidth
        self.rows = rows
        self.outChannels = outChannels
        self.panels = panels
        var out = [Float](repeating: 0, count: w.count)
        for co in 0..<outChannels {
            for ci in 0..<inChannels {
                for t in 0..<(k * k) {
                    let row = t * inChannels + ci
                    let at = panels ? ((co / width) * rows + row) * width + co % width : row * outChannels + co
                    out[at] = w[(co * inChannels + ci) * k * k + t]
                }
            }
        }
        values = out
    }
}
