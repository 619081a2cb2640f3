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

    /// Six vectors: a row or a column of a tile, one 8-channel vector per pixel.
    typealias Six = (Vector, Vector, Vector, Vector, Vector, Vector)

    /// `V[ξ, t, ci] = (Bᵀ d B)_ξ` for one tile and all input channels, eight at a time:
    /// `into + ξ·stride + ci`. The tile's rows are read straight into registers (with the
    /// affine, and zeros outside the image) and transformed along the row (`d B`) into a
    /// 6x6 scratch; its columns are then transformed (`Bᵀ ·`) and stored into V.
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
        let pixel = Blocked.width, line = w &* Blocked.width
        withUnsafeTemporaryAllocation(of: Vector.self, capacity: 36) { scratch in
            let e = scratch.baseAddress!
            for cb in 0..<blocks {
                let first: Int = ((n &* blocks &+ cb) &* h) &* line
                let plane = input + first
                var scale = Vector(repeating: 1), shift = Vector(repeating: 0)
                if let affine {
                    scale = Blocked.load(affine.scale + cb &* Blocked.width)
                    shift = Blocked.load(affine.shift + cb &* Blocked.width)
                }
                let offset: Int = (y0 &- 1) &* line &+ (x0 &- 1) &* pixel
                let corner = plane + offset
                for r in 0..<6 {
                    let row = corner + r &* line
                    @inline(__always) func at(_ c: Int) -> Vector {
                        shift.addingProduct(Blocked.load(row + c &* pixel), scale)
                    }
                    @inline(__always) func clipped(_ c: Int) -> Vector {
                        c >= c0 && c < c1 ? at(c) : Vector(repeating: 0)
                    }
                    let x: Six
                    if interior {
                        x = (at(0), at(1), at(2), at(3), at(4), at(5))
                    } else if r < r0 || r >= r1 {
                        let zero = Vector(repeating: 0)
                        x = (zero, zero, zero, zero, zero, zero)
                    } else {
                        x = (clipped(0), clipped(1), clipped(2), clipped(3), clipped(4), clipped(5))
                    }
                    let y = inputTransform(x)
                    let out = e + r &* 6
                    (out[0], out[1], out[2], out[3], out[4], out[5]) = y
                }
                let out = v + cb &* Blocked.width
                for j in 0..<6 {
                    let y = inputTransform((e[j], e[6 &+ j], e[12 &+ j], e[18 &+ j], e[24 &+ j], e[30 &+ j]))
                    Blocked.store(y.0, out + j &* stride)
                    Blocked.store(y.1, out + (6 &+ j) &* stride)
                    Blocked.store(y.2, out + (12 &+ j) &* stride)
                    Blocked.store(y.3, out + (18 &+ j) &* stride)
                    Blocked.store(y.4, out + (24 &+ j) &* stride)
                    Blocked.store(y.5, out + (30 &+ j) &* stride)
                }
            }
        }
    }

    /// `Bᵀ x` for six vectors (14 vector operations, as in ncnn's F(4x4, 3x3)).
    @inline(__always)
    static func inputTransform(_ x: Six) -> Six {
        let (d0, d1, d2, d3, d4, d5) = x
        let s12 = d1 + d2, d12 = d1 - d2, s34 = d3 + d4, d43 = d4 - d3, d42 = d4 - d2, d13 = d1 - d3
        let y0 = d4.addingProduct(-5 as Float, d2).addingProduct(4 as Float, d0)
        let y1 = s34.addingProduct(-4 as Float, s12)
        let y2 = d43.addingProduct(4 as Float, d12)
        let y3 = d42.addingProduct(-2 as Float, d13)
        let y4 = d42.addingProduct(2 as Float, d13)
        let y5 = d5.addingProduct(-5 as Float, d3).addingProduct(4 as Float, d1)
        return (y0, y1, y2, y3, y4, y5)
    }

    /// `Y = Aᵀ M A` + bias + epilogue for one tile and all output channels, eight at a time,
    /// read from `products + ξ·stride + co` and written into the blocked output, clipped at the
    /// image's edge: the columns of M are transformed (`Aᵀ ·`) into a 4x6 scratch as they are
    /// read, then its rows (`· A`) straight into the output.
    @inline(__always)
    static func transformOutput(
        _ tiling: Tiling, tile t: Int, products m: UnsafePointer<Float>, stride: Int,
        output: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, epilogue: Epilogue
    ) {
        let g = tiling.g, h = g.height, w = g.width, blocks = g.outChannels / Blocked.width
        let (n, y0, x0) = tiling.origin(t)
        let rows = min(4, h - y0), columns = min(4, w - x0)
        withUnsafeTemporaryAllocation(of: Vector.self, capacity: 24) { scratch in
            let r = scratch.baseAddress!
            for ob in 0..<blocks {
                let src = m + ob &* Blocked.width
                @inline(__always) func at(_ xi: Int) -> Vector { Blocked.load(src + xi &* stride) }
                for j in 0..<6 {
                    let y = outputTransform((at(j), at(6 &+ j), at(12 &+ j), at(18 &+ j), at(24 &+ j), at(30 &+ j)))
                    (r[j], r[6 &+ j], r[12 &+ j], r[18 &+ j]) = y
                }
                let b = bias.map { Blocked.load($0 + ob &* Blocked.width) } ?? Vector(repeating: 0)
                let plane = ((n &* blocks &+ ob) &* h) &* w &* Blocked.width
                var slope = Vector(repeating: 1)
                var residual: UnsafePointer<Float>?
                switch epilogue {
                case .none: break
                case let .prelu(s): slope = Blocked.load(s + ob &* Blocked.width)
                case let .add(res): residual = res + plane
                }
                let target = output + plane
                for i in 0..<rows {
                    let row = r + i &* 6
                    let y = outputTransform((row[0], row[1], row[2], row[3], row[4], row[5]))
                    let first = ((y0 &+ i) &* w &+ x0) &* Blocked.width
                    @inline(__always) func put(_ j: Int, _ value: Vector) {
                        let at = first &+ j &* Blocked.width
                        var y = value + b
                        if let residual {
                            y += Blocked.load(residual + at)
                        } else {
                            y = Blocked.prelu(y, slope)
                        }
                        Blocked.store(y, target + at)
                    }
                    put(0, y.0)
                    if columns > 1 { put(1, y.1) }
                    if columns > 2 { put(2, y.2) }
                    if columns > 3 { put(3, y.3) }
                }
            }
        }
    }

    /// `Aᵀ x` for six vectors: the four outputs.
    @inline(__always)
    static func outputTransform(_ x: Six) -> (Vector, Vector, Vector, Vector) {
        let (m0, m1, m2, m3, m4, m5) = x
        let s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4
        let y0 = m0 + s12 + s34
        let y1 = d12.addingProduct(2 as Float, d34)
        let y2 = s12.addingProduct(4 as Float, s34)
        let y3 = (d12 + m5).addingProduct(8 as Float, d34)
        return (y0, y1, y2, y3)
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
