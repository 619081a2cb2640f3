import TensorAVX512

/// 3x3 convolutions with Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray, "Fast
/// Algorithms for Convolutional Neural Networks", 2016), over blocked activations
/// `[N, C/8, H, W, 8]` (`Blocked`).
///
/// Each 4x4 output tile comes from a 6x6 input tile `d` as `Aᵀ [Σ_ci (G g Gᵀ) ⊙ (Bᵀ d B)] A`:
/// 36 multiplies per tile and channel pair instead of 144. As in ncnn and NNPACK, the sum over
/// input channels becomes 36 independent GEMMs, one per position ξ of the 6x6 transformed
/// tile: `M_ξ [tiles, Cout] = V_ξ [tiles, Cin] × U_ξ [Cin, Cout]`.
///
/// A convolution runs as three passes, each split over `Parallel.threadCount` parts: the input
/// transform (by tile; an `InputAffine` is applied as the tile is read, so padding stays zero),
/// the 36 GEMMs (by ξ: `PanelGEMM` on prepacked weights on AVX-512 CPUs, single-threaded OpenBLAS
/// elsewhere; `WinogradWeights.Layout`), and the output transform
/// (by tile) with the bias and the `Epilogue` fused in. In the blocked layout a tile's pixel is
/// one 8-lane vector of channels, so both transforms are pure vector arithmetic with
/// contiguous loads and stores. Tiles are taken in blocks so that the transformed data stays
/// bounded whatever the batch.
///
/// Numerics: the points are 0, ±1, ±2 and ∞; the weight transform runs in Double. Against the
/// float64 reference the error is a few float32 ulps of the sum of |products|
/// (Tests/TensorTests/WinogradTests.swift states the bound).
public enum Winograd {
    /// Transformed positions per tile (6 x 6): the number of GEMMs per convolution.
    public static let positions = 36

    typealias Vector = Blocked.Vector

    /// Whether F(4x4, 3x3) computes `g` here: a 3x3 kernel, stride 1, padding 1, channel
    /// counts that are multiples of 8.
    public static func supports(_ g: ConvGeometry) -> Bool {
        g.kernel == 3 && g.stride == 1 && g.padding == 1
            && Blocked.supports(channels: g.inChannels) && Blocked.supports(channels: g.outChannels)
    }

    /// The transformed data of one convolution's tiles, kept between layers and grown as
    /// needed.
    public struct Workspace: Sendable {
        var transformed: [Float] = []
        var products: [Float] = []
        public init() {}
    }

    /// Convolves blocked `input` with 3x3 weights already transformed (`WinogradWeights`),
    /// stride 1, padding 1.
    ///
    /// - Parameters:
    ///   - g: the geometry; `supports(g)` must hold.
    ///   - input: `[N, Cin/8, H, W, 8]`.
    ///   - weights: the transformed weights, `Cin` and `Cout` as in `g`.
    ///   - bias: `Cout` values or nil.
    ///   - output: `[N, Cout/8, H, W, 8]`, overwritten.
    ///   - workspace: transformed tiles; grown as needed and reused across calls.
    ///   - maxWorkspace: the most floats each of the two transformed buffers may hold (tiles are
    ///     processed in blocks that fit).
    ///   - inputAffine: a per-input-channel `x · scale + shift` applied as tiles are read (an
    ///     inference BatchNorm before the conv; padding stays zero).
    ///   - epilogue: what follows the bias, in the output transform's pass.
    public static func convolve(
        _ g: ConvGeometry, input: UnsafePointer<Float>, weights: WinogradWeights,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
        workspace: inout Workspace, maxWorkspace: Int = 1 << 22,
        inputAffine: InputAffine? = nil, epilogue: Epilogue = .none
    ) {
        precondition(supports(g), "Winograd F(4x4,3x3) needs a 3x3 stride-1 padding-1 convolution on multiples of 8 channels, got \(g)")
        precondition(weights.inChannels == g.inChannels && weights.outChannels == g.outChannels,
                     "weights are \(weights.outChannels)x\(weights.inChannels), the conv is \(g)")
        let tiling = Tiling(g)
        let cin = g.inChannels, cout = g.outChannels
        let block = max(min(tiling.count, maxWorkspace / (positions * max(cin, cout))), min(tiling.count, 8))
        // Every float a pass reads was written by the pass before, so the buffers are not cleared.
        workspace.transformed.growUninitialized(to: positions * matrixStride(block, cin))
        workspace.products.growUninitialized(to: positions * matrixStride(block, cout))
        BLAS.withSingleThreadedKernels {
            weights.values.withUnsafeBufferPointer { u in
                workspace.transformed.withUnsafeMutableBufferPointer { v in
                    workspace.products.withUnsafeMutableBufferPointer { m in
                        nonisolated(unsafe) let u = u.baseAddress!, v = v.baseAddress!, m = m.baseAddress!
                        nonisolated(unsafe) let input = input, output = output, bias = bias, epilogue = epilogue
                        var first = 0
                        while first < tiling.count {
                            let tiles = first..<min(first + block, tiling.count), n = tiles.count
                            Parallel.forEachPart(n) { part in
                                for k in part {
                                    transformInput(tiling, tile: tiles.lowerBound + k, input: input, affine: inputAffine,
                                                   into: v + k * cin, stride: matrixStride(n, cin))
                                }
                            }
                            let layout = weights.layout
                            Parallel.forEachPart(positions) { xis in
                                for xi in xis {
                                    let a = v + xi * matrixStride(n, cin), c = m + xi * matrixStride(n, cout)
                                    switch layout {
                                    case .matrices:
                                        BLAS.sgemm(m: n, n: cout, k: cin, a: a, lda: cin, b: u + xi * cin * cout, ldb: cout,
                                                   c: c, ldc: cout)
                                    case .panels:
                                        PanelGEMM.multiply(m: n, n: cout, k: cin, a: a, lda: cin, panels: u + xi * cin * cout,
                                                           c: c, ldc: cout)
                                    }
                                }
                            }
                            Parallel.forEachPart(n) { part in
                                for k in part {
                                    transformOutput(tiling, tile: tiles.lowerBound + k, products: m + k * cout,
                                                    stride: matrixStride(n, cout), output: output, bias: bias, epilogue: epilogue)
                                }
                            }
                            first = tiles.upperBound
                        }
                    }
                }
            }
        }
    }

    /// The distance between two of the 36 matrices `[tiles, channels]` in the workspace: one
    /// cache line more than their size, so that a transform, which touches the same row of all
    /// 36 at once, does not meet them all in one L1 cache set at power-of-two sizes (no
    /// difference measured on the benchmark machine; it costs 64 bytes a matrix).
    static func matrixStride(_ tiles: Int, _ channels: Int) -> Int {
        tiles * channels + 16
    }

    /// Where each 4x4 output tile lies: tiles are numbered image by image, row by row.
    struct Tiling {
        let g: ConvGeometry
        let rows: Int, columns: Int
        var perImage: Int { rows * columns }
        var count: Int { g.batch * perImage }

        init(_ g: ConvGeometry) {
            self.g = g
            rows = (g.height + 3) / 4
            columns = (g.width + 3) / 4
        }

        /// The tile's image, and the top-left of its output tile.
        @inline(__always)
        func origin(_ t: Int) -> (n: Int, y: Int, x: Int) {
            let n = t / perImage, r = t % perImage
            return (n, (r / columns) * 4, (r % columns) * 4)
        }
    }

    /// `V[ξ, t, ci] = (Bᵀ d B)_ξ` for one tile and all input channels, eight at a time:
    /// `into + ξ·stride + ci`.
    @inline(__always)
    static func transformInput(
        _ tiling: Tiling, tile t: Int, input: UnsafePointer<Float>, affine: InputAffine?,
        into v: UnsafeMutablePointer<Float>, stride: Int
    ) {
        let g = tiling.g, h = g.height, w = g.width, blocks = g.inChannels / Blocked.width
        let (n, y0, x0) = tiling.origin(t)
        // The 6x6 input tile covers rows y0−1…y0+4 and columns x0−1…x0+4; the part inside the
        // image is rows r0..<r1 and columns c0..<c1 of it, the rest is padding (zeros).
        let r0 = y0 == 0 ? 1 : 0, r1 = min(6, h - y0 + 1), c0 = x0 == 0 ? 1 : 0, c1 = min(6, w - x0 + 1)
        let interior = r0 == 0 && r1 == 6 && c0 == 0 && c1 == 6
        withUnsafeTemporaryAllocation(of: Vector.self, capacity: 72) { scratch in
            let d = scratch.baseAddress!, e = d + 36
            if !interior { d.update(repeating: Vector(repeating: 0), count: 36) }
            for cb in 0..<blocks {
                let plane = input + ((n &* blocks &+ cb) &* h) &* w &* Blocked.width
                var scale = Vector(repeating: 1), shift = Vector(repeating: 0)
                if let affine {
                    scale = Blocked.load(affine.scale + cb &* Blocked.width)
                    shift = Blocked.load(affine.shift + cb &* Blocked.width)
                }
                let corner = plane + ((y0 &- 1) &* w &+ (x0 &- 1)) &* Blocked.width
                if interior {
                    for r in 0..<6 {
                        let row = corner + r &* w &* Blocked.width
                        for c in 0..<6 { d[r &* 6 &+ c] = Blocked.load(row + c &* Blocked.width) * scale + shift }
                    }
                } else {
                    for r in r0..<r1 {
                        let row = corner + r &* w &* Blocked.width
                        for c in c0..<c1 { d[r &* 6 &+ c] = Blocked.load(row + c &* Blocked.width) * scale + shift }
                    }
                }
                // Bᵀ d down the columns, then (Bᵀ d) B along the rows, straight into V.
                for c in 0..<6 {
                    inputTransform(d + c, 6) { i, value in e[i * 6 + c] = value }
                }
                let out = v + cb * Blocked.width
                for r in 0..<6 {
                    inputTransform(e + r * 6, 1) { j, value in Blocked.store(value, out + (r * 6 + j) * stride) }
                }
            }
        }
    }

    /// `(Bᵀ x)_i` for the six vectors `x[0], x[s], …, x[5s]`, handed to `write(i, value)`.
    @inline(__always)
    static func inputTransform(_ x: UnsafePointer<Vector>, _ s: Int, _ write: (Int, Vector) -> Void) {
        let d0 = x[0], d1 = x[s], d2 = x[2 * s], d3 = x[3 * s], d4 = x[4 * s], d5 = x[5 * s]
        write(0, 4 * d0 - 5 * d2 + d4)
        write(1, d3 + d4 - 4 * (d1 + d2))
        write(2, 4 * (d1 - d2) + d4 - d3)
        write(3, 2 * (d3 - d1) + d4 - d2)
        write(4, 2 * (d1 - d3) + d4 - d2)
        write(5, 4 * d1 - 5 * d3 + d5)
    }

    /// `Y = Aᵀ M A` + bias + epilogue for one tile and all output channels, eight at a time,
    /// read from `products + ξ·stride + co` and written into the blocked output, clipped at the
    /// image's edge.
    @inline(__always)
    static func transformOutput(
        _ tiling: Tiling, tile t: Int, products m: UnsafePointer<Float>, stride: Int,
        output: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, epilogue: Epilogue
    ) {
        let g = tiling.g, h = g.height, w = g.width, blocks = g.outChannels / Blocked.width
        let (n, y0, x0) = tiling.origin(t)
        let rows = min(4, h - y0), columns = min(4, w - x0)
        withUnsafeTemporaryAllocation(of: Vector.self, capacity: 36 + 24) { scratch in
            let x = scratch.baseAddress!, r = x + 36
            for ob in 0..<blocks {
                let src = m + ob * Blocked.width
                for xi in 0..<36 { x[xi] = Blocked.load(src + xi * stride) }
                for j in 0..<6 {
                    outputTransform(x + j, 6) { i, value in r[i * 6 + j] = value }
                }
                let b = bias.map { Blocked.load($0 + ob * Blocked.width) } ?? Vector(repeating: 0)
                let plane = output + ((n * blocks + ob) * h) * w * Blocked.width
                var slope = Vector(repeating: 1)
                var residual: UnsafePointer<Float>?
                switch epilogue {
                case .none: break
                case let .prelu(s): slope = Blocked.load(s + ob * Blocked.width)
                case let .add(res): residual = res + ((n * blocks + ob) * h) * w * Blocked.width
                }
                for i in 0..<rows {
                    outputTransform(r + i * 6, 1) { j, value in
                        guard j < columns else { return }
                        let at = ((y0 + i) * w + x0 + j) * Blocked.width
                        var y = value + b
                        if let residual {
                            y += Blocked.load(residual + at)
                        } else {
                            y = Blocked.prelu(y, slope)
                        }
                        Blocked.store(y, plane + at)
                    }
                }
            }
        }
    }

    /// `(Aᵀ x)_i` for the six vectors `x[0], x[s], …, x[5s]` (i < 4), handed to `write(i, value)`.
    @inline(__always)
    static func outputTransform(_ x: UnsafePointer<Vector>, _ s: Int, _ write: (Int, Vector) -> Void) {
        let m0 = x[0], m1 = x[s], m2 = x[2 * s], m3 = x[3 * s], m4 = x[4 * s], m5 = x[5 * s]
        let s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4
        write(0, m0 + s12 + s34)
        write(1, d12 + 2 * d34)
        write(2, s12 + 4 * s34)
        write(3, d12 + 8 * d34 + m5)
    }
}

/// 3x3 weights transformed for `Winograd.convolve`: `U = G g Gᵀ` (6x6) for every output and
/// input channel, computed in Double once at load and kept as 36 GEMM operands `[Cin, Cout]`.
/// Four times the memory of the 3x3 weights.
public struct WinogradWeights: Sendable {
    /// How the 36 operands are stored, which decides the GEMM that reads them.
    public enum Layout: Sendable {
        /// Row-major `[Cin, Cout]` each, for OpenBLAS.
        case matrices
        /// `Cout / 32` panels `[Cin, 32]` each, for `PanelGEMM` (AVX-512 CPUs only; `Cout` a
        /// multiple of 32).
        case panels
    }

    public let inChannels: Int
    public let outChannels: Int
    public let layout: Layout
    /// The 36 operands, `Cin·Cout` floats each. `.matrices`: `values[(ξ·Cin + ci)·Cout + co]`;
    /// `.panels`: `values[ξ·Cin·Cout + ((co / 32)·Cin + ci)·32 + co % 32]`; both
    /// `(G g[co, ci] Gᵀ)_ξ`.
    public let values: [Float]

    /// Whether `.panels` can hold weights with this many output channels.
    public static func panelsFit(outChannels: Int) -> Bool {
        outChannels % PanelGEMM.panelWidth == 0
    }

    /// Transforms PyTorch-layout weights `[Cout, Cin, 3, 3]`.
    public init(_ weights: UnsafeBufferPointer<Float>, outChannels: Int, inChannels: Int, layout: Layout = .matrices) {
        precondition(weights.count == outChannels * inChannels * 9, "3x3 weights: \(outChannels)x\(inChannels)x3x3")
        precondition(layout == .matrices || Self.panelsFit(outChannels: outChannels), "panels need a multiple of 32 output channels")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.layout = layout
        let gm: [[Double]] = [
            [1.0 / 4, 0, 0],
            [-1.0 / 6, -1.0 / 6, -1.0 / 6],
            [-1.0 / 6, 1.0 / 6, -1.0 / 6],
            [1.0 / 24, 1.0 / 12, 1.0 / 6],
            [1.0 / 24, -1.0 / 12, 1.0 / 6],
            [0, 0, 1],
        ]
        let pairs = outChannels * inChannels
        values = [Float](unsafeUninitializedCapacity: 36 * pairs) { u, initialized in
            Parallel.adviseHugePages(UnsafeMutableRawPointer(u.baseAddress!), bytes: 36 * pairs * MemoryLayout<Float>.stride)
            let t = UnsafeMutablePointer<Double>.allocate(capacity: 18)
            defer { t.deallocate() }
            for pair in 0..<pairs {
                let k = weights.baseAddress! + pair * 9
                // t = G g (6x3), then U = t Gᵀ (6x6).
                for i in 0..<6 {
                    for j in 0..<3 {
                        t[i * 3 + j] = gm[i][0] * Double(k[j]) + gm[i][1] * Double(k[3 + j]) + gm[i][2] * Double(k[6 + j])
                    }
                }
                for i in 0..<6 {
                    for j in 0..<6 {
                        let value = t[i * 3] * gm[j][0] + t[i * 3 + 1] * gm[j][1] + t[i * 3 + 2] * gm[j][2]
                        let co = pair / inChannels, ci = pair % inChannels, xi = i * 6 + j
                        switch layout {
                        case .matrices:
                            u[(xi * inChannels + ci) * outChannels + co] = Float(value)
                        case .panels:
                            let panel = co / PanelGEMM.panelWidth, lane = co % PanelGEMM.panelWidth
                            u[xi * pairs + (panel * inChannels + ci) * PanelGEMM.panelWidth + lane] = Float(value)
                        }
                    }
                }
            }
            initialized = 36 * pairs
        }
    }
}

extension Array where Element == Float {
    /// Makes `count` at least `n`, without initialising the new floats when it has to grow
    /// (work buffers whose every read follows a write).
    mutating func growUninitialized(to n: Int) {
        if count < n {
            self = [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
                Parallel.adviseHugePages(UnsafeMutableRawPointer(buffer.baseAddress!), bytes: n * MemoryLayout<Float>.stride)
                initialized = n
            }
        }
    }
}
