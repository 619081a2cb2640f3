/// 3x3 convolutions with Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray, "Fast
/// Algorithms for Convolutional Neural Networks", 2016), over `[C, N, H, W]` activations.
///
/// Each 4x4 output tile comes from a 6x6 input tile `d` as `Aᵀ [Σ_ci (G g Gᵀ) ⊙ (Bᵀ d B)] A`:
/// 36 multiplies per tile and channel pair instead of 144. Laid out as in ncnn and NNPACK, the
/// sum over input channels becomes 36 independent GEMMs, one per position ξ of the 6x6
/// transformed tile: `M_ξ [Cout, tiles] = U_ξ [Cout, Cin] × V_ξ [Cin, tiles]`.
///
/// A convolution runs as three passes, each split over `Parallel.threadCount` parts: the input
/// transform (by input channel; an `InputAffine` is applied as tiles are read, so padding stays
/// zero), the 36 GEMMs (by ξ, each part calling single-threaded OpenBLAS), and the output
/// transform (by output channel) with the bias and the `Epilogue` fused in. Tiles are taken in
/// blocks so that the transformed data stays bounded whatever the batch.
///
/// Numerics: the points are 0, ±1, ±2 and ∞; the weight transform runs in Double. Against the
/// float64 reference convolution the error is a few float32 ulps of the output's scale
/// (Tests/TensorTests/WinogradTests.swift states the bound).
public enum Winograd {
    /// Output tile side (m in F(m x m, 3x3)).
    public static let outputTile = 4
    /// Input tile side, m + 3 − 1.
    public static let inputTile = 6
    /// Transformed positions per tile (6 x 6): the number of GEMMs per convolution.
    public static let positions = 36
    /// Tiles transformed together in one vectorised pass (bounds the per-part scratch to
    /// 2 · 36 · 64 floats, 18 KiB).
    static let chunk = 64

    /// Whether F(4x4, 3x3) computes `g`: a 3x3 kernel, stride 1, padding 1.
    public static func supports(_ g: ConvGeometry) -> Bool {
        g.kernel == 3 && g.stride == 1 && g.padding == 1
    }

    /// Multiply-adds of the 36 GEMMs for `g`, the part of the work that is not a transform.
    public static func multiplyAdds(_ g: ConvGeometry) -> Double {
        let tiles = g.batch * ((g.height + 3) / 4) * ((g.width + 3) / 4)
        return Double(positions * tiles) * Double(g.inChannels * g.outChannels)
    }

    /// The transformed data of one convolution's tiles, kept between layers and grown as
    /// needed.
    public struct Workspace {
        var transformed: [Float] = []
        var products: [Float] = []
        public init() {}
    }

    /// Convolves `input` with 3x3 weights already transformed (`WinogradWeights`), stride 1,
    /// padding 1.
    ///
    /// - Parameters:
    ///   - g: the geometry; `supports(g)` must hold.
    ///   - input: `[Cin, N, H, W]`.
    ///   - weights: the transformed weights, `Cin` and `Cout` as in `g`.
    ///   - bias: `Cout` values or nil.
    ///   - output: `[Cout, N, H, W]`, overwritten.
    ///   - workspace: transformed tiles; grown as needed and reused across calls.
    ///   - maxWorkspace: the most floats each of the two transformed buffers may hold (tiles are
    ///     processed in blocks that fit).
    ///   - inputAffine: a per-input-channel `x · scale + shift` applied as tiles are read (an
    ///     inference BatchNorm before the conv; padding stays zero).
    ///   - epilogue: what follows the bias, in the output transform's pass.
    public static func convolve(
        _ g: ConvGeometry, input: UnsafePointer<Float>, weights: WinogradWeights,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
        workspace: inout Workspace, maxWorkspace: Int = 1 << 23,
        inputAffine: InputAffine? = nil, epilogue: Epilogue = .none
    ) {
        precondition(supports(g), "Winograd F(4x4,3x3) needs a 3x3 stride-1 padding-1 convolution, got \(g)")
        precondition(weights.inChannels == g.inChannels && weights.outChannels == g.outChannels,
                     "weights are \(weights.outChannels)x\(weights.inChannels), the conv is \(g)")
        let tiling = Tiling(g)
        let widest = max(g.inChannels, g.outChannels)
        let block = max(min(tiling.count, maxWorkspace / (positions * widest)), min(tiling.count, chunk))
        if workspace.transformed.count < positions * matrixStride(g.inChannels, block) {
            workspace.transformed = [Float](repeating: 0, count: positions * matrixStride(g.inChannels, block))
        }
        if workspace.products.count < positions * matrixStride(g.outChannels, block) {
            workspace.products = [Float](repeating: 0, count: positions * matrixStride(g.outChannels, block))
        }
        BLAS.withSingleThreadedKernels {
        weights.values.withUnsafeBufferPointer { u in
            workspace.transformed.withUnsafeMutableBufferPointer { v in
                workspace.products.withUnsafeMutableBufferPointer { m in
                    nonisolated(unsafe) let u = u.baseAddress!, v = v.baseAddress!, m = m.baseAddress!
                    var first = 0
                    while first < tiling.count {
                        let tiles = first..<min(first + block, tiling.count)
                        let table = TileTable(tiling, tiles: tiles)
                        Parallel.forEachPart(g.inChannels) { channels in
                            transformInput(tiling, table, input: input, channels: channels, into: v,
                                           affine: inputAffine)
                        }
                        let cin = g.inChannels, cout = g.outChannels, n = tiles.count
                        Parallel.forEachPart(positions) { xis in
                            for xi in xis {
                                BLAS.sgemm(m: cout, n: n, k: cin, a: u + xi * cout * cin, lda: cin,
                                           b: v + xi * matrixStride(cin, n), ldb: n,
                                           c: m + xi * matrixStride(cout, n), ldc: n)
                            }
                        }
                        Parallel.forEachPart(g.outChannels) { channels in
                            transformOutput(tiling, table, products: m, channels: channels, output: output,
                                            bias: bias, epilogue: epilogue)
                        }
                        first = tiles.upperBound
                    }
                }
            }
        }
        }
    }

    /// The distance between two of the 36 matrices `[channels, tiles]` in the workspace: one
    /// cache line more than their size, so that the transforms, which touch the same row of all
    /// 36 at once, do not meet them all in one L1 cache set at power-of-two sizes. The slack
    /// also covers the output transform reading whole vectors past the end of the last row.
    static func matrixStride(_ channels: Int, _ tiles: Int) -> Int {
        channels * tiles + 16
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

        /// The zero-padded input plane that holds every tile: 4·rows + 2 by 4·columns + 2.
        var paddedHeight: Int { 4 * rows + 2 }
        var paddedWidth: Int { 4 * columns + 2 }

        /// The tile's image, and the top-left of its output tile.
        @inline(__always)
        func origin(_ t: Int) -> (n: Int, y: Int, x: Int) {
            let n = t / perImage, r = t % perImage
            return (n, (r / columns) * 4, (r % columns) * 4)
        }
    }

    /// Where a block's tiles lie, worked out once per block for all channels.
    struct TileTable {
        /// The first and one past the last image the block's tiles come from.
        let images: Range<Int>
        /// The offset of each input tile's top-left in the zero-padded planes
        /// `[images, 4·rows + 2, 4·columns + 2]` that `transformInput` builds per channel.
        var input: [Int] = []
        /// The offset of each output tile's top-left in an output channel plane `[N, H, W]`.
        var output: [Int] = []
        /// The rows and columns of each output tile inside the image (4 but at the far edges).
        var rows: [Int8] = []
        var columns: [Int8] = []
        let tiles: Range<Int>

        init(_ tiling: Tiling, tiles: Range<Int>) {
            self.tiles = tiles
            let h = tiling.g.height, w = tiling.g.width
            let paddedWidth = tiling.paddedWidth, paddedPlane = tiling.paddedHeight * paddedWidth
            let first = tiling.origin(tiles.lowerBound).n
            images = first..<(tiling.origin(tiles.upperBound - 1).n + 1)
            for t in tiles {
                let (n, y0, x0) = tiling.origin(t)
                input.append((n - first) * paddedPlane + y0 * paddedWidth + x0)
                output.append(n * h * w + y0 * w + x0)
                rows.append(Int8(min(4, h - y0)))
                columns.append(Int8(min(4, w - x0)))
            }
        }
    }

    /// `V[ξ, ci, t] = (Bᵀ d B)_ξ` for the block's tiles of the input channels `channels`,
    /// written with leading dimension `table.tiles.count` (`v` holds `[36, Cin, tiles]`).
    ///
    /// Each channel's images are first copied into zero-padded planes (one row and column of
    /// padding before, up to three after), applying the input's affine map to the image values
    /// only, so that every tile is then read without a bounds check.
    static func transformInput(
        _ tiling: Tiling, _ table: TileTable, input: UnsafePointer<Float>, channels: Range<Int>,
        into v: UnsafeMutablePointer<Float>, affine: InputAffine?
    ) {
        let g = tiling.g, h = g.height, w = g.width, plane = g.batch * h * w
        let ld = table.tiles.count, vStride = matrixStride(g.inChannels, ld)
        let pw = tiling.paddedWidth, paddedPlane = tiling.paddedHeight * pw
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: table.images.count * paddedPlane)
        padded.initialize(repeating: 0, count: table.images.count * paddedPlane)
        let d = UnsafeMutablePointer<Float>.allocate(capacity: 2 * positions * chunk)
        defer {
            padded.deallocate()
            d.deallocate()
        }
        let e = d + positions * chunk
        table.input.withUnsafeBufferPointer { offsets in
        for ci in channels {
            let scale = affine?.scale[ci] ?? 1, shift = affine?.shift[ci] ?? 0
            // The padding stays 0 from the initialisation; only the image area is rewritten.
            for (i, n) in table.images.enumerated() {
                let image = input + ci * plane + n * h * w
                for y in 0..<h {
                    let src = image + y * w, dst = padded + i * paddedPlane + (y + 1) * pw + 1
                    for x in 0..<w { dst[x] = src[x] * scale + shift }
                }
            }
            var first = 0
            while first < ld {
                let count = min(chunk, ld - first)
                // Gather each tile's 6x6 input as 36 rows over the chunk's tiles:
                // d[(r·6 + c)·chunk + k].
                for k in 0..<count {
                    let tile = padded + offsets[first + k]
                    for r in 0..<6 {
                        let row = tile + r * pw, dst = d + r * 6 * chunk + k
                        for c in 0..<6 { dst[c * chunk] = row[c] }
                    }
                }
                // Bᵀ d: down each of the 6 columns; then (Bᵀ d) B: along each of the 6 rows,
                // straight into V.
                for c in 0..<6 {
                    inputRows(d + c * chunk, stride: 6 * chunk, into: e + c * chunk, outStride: 6 * chunk, count: count)
                }
                let out = v + ci * ld + first
                for r in 0..<6 {
                    inputRows(e + r * 6 * chunk, stride: chunk, into: out + r * 6 * vStride, outStride: vStride,
                              count: count)
                }
                first += count
            }
        }
        }
    }

    /// `out_i = (Bᵀ x)_i` for six vectors `x_j = x + j·stride` of `count` floats (i, j < 6), eight
    /// lanes at a time. Reads whole vectors (the scratch rows hold a full chunk); writes exactly
    /// `count` floats per output row.
    @inline(__always)
    static func inputRows(
        _ x: UnsafePointer<Float>, stride s: Int, into o: UnsafeMutablePointer<Float>, outStride os: Int, count: Int
    ) {
        var k = 0
        while k < count {
            let d0 = load(x + k), d1 = load(x + s + k), d2 = load(x + 2 * s + k)
            let d3 = load(x + 3 * s + k), d4 = load(x + 4 * s + k), d5 = load(x + 5 * s + k)
            let lanes = min(8, count - k)
            store(4 * d0 - 5 * d2 + d4, o + k, lanes)
            store(d3 + d4 - 4 * (d1 + d2), o + os + k, lanes)
            store(4 * (d1 - d2) + d4 - d3, o + 2 * os + k, lanes)
            store(2 * (d3 - d1) + d4 - d2, o + 3 * os + k, lanes)
            store(2 * (d1 - d3) + d4 - d2, o + 4 * os + k, lanes)
            store(4 * d1 - 5 * d3 + d5, o + 5 * os + k, lanes)
            k += 8
        }
    }

    typealias Lanes = SIMD8<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Lanes {
        UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
    }

    /// Stores the first `lanes` (1…8) lanes of `v` at `p`.
    @inline(__always)
    static func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
        if lanes == 8 {
            UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
        } else {
            for i in 0..<lanes { p[i] = v[i] }
        }
    }

    /// `Y = Aᵀ M A` (+ bias, epilogue) for the block's tiles of the output channels `channels`,
    /// written into `output` `[Cout, N, H, W]`, clipped at the image's edge.
    static func transformOutput(
        _ tiling: Tiling, _ table: TileTable, products m: UnsafePointer<Float>, channels: Range<Int>,
        output: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, epilogue: Epilogue
    ) {
        let g = tiling.g, h = g.height, w = g.width, plane = g.batch * h * w
        let ld = table.tiles.count, mStride = matrixStride(g.outChannels, ld)
        let r = UnsafeMutablePointer<Float>.allocate(capacity: (24 + 16) * chunk)
        defer { r.deallocate() }
        let y = r + 24 * chunk
        table.output.withUnsafeBufferPointer { offsets in
        table.rows.withUnsafeBufferPointer { tileRows in
        table.columns.withUnsafeBufferPointer { tileColumns in
        for co in channels {
            let b = bias?[co] ?? 0
            var first = 0
            while first < ld {
                let count = min(chunk, ld - first)
                let src = m + co * ld + first
                // Aᵀ M: down each of the 6 columns (ξ = i·6 + j, row stride 6·Cout·ld), then
                // (Aᵀ M) A along each of the 4 rows.
                for j in 0..<6 {
                    outputRows(src + j * mStride, stride: 6 * mStride, into: r + j * chunk, outStride: 6 * chunk,
                               count: count, bias: 0)
                }
                for i in 0..<4 {
                    outputRows(r + i * 6 * chunk, stride: chunk, into: y + i * 4 * chunk, outStride: chunk,
                               count: count, bias: b)
                }
                if case let .prelu(slope) = epilogue {
                    let a = slope[co]
                    for row in 0..<16 {
                        let v = y + row * chunk
                        for k in 0..<count { v[k] = v[k] < 0 ? v[k] * a : v[k] }
                    }
                }
                let dst = output + co * plane
                var residual: UnsafePointer<Float>?
                if case let .add(res) = epilogue { residual = res + co * plane }
                for k in 0..<count {
                    let base = offsets[first + k]
                    let rows = Int(tileRows[first + k]), cols = Int(tileColumns[first + k])
                    for i in 0..<rows {
                        let o = dst + base + i * w
                        let v = y + i * 4 * chunk + k
                        if let residual {
                            let rr = residual + base + i * w
                            for j in 0..<cols { o[j] = v[j * chunk] + rr[j] }
                        } else {
                            for j in 0..<cols { o[j] = v[j * chunk] }
                        }
                    }
                }
                first += count
            }
        }
        }
        }
        }
    }

    /// `out_i = (Aᵀ x)_i + bias` for six vectors `x_j = x + j·stride` of `count` floats (i < 4),
    /// eight lanes at a time: reads whole vectors (`Workspace` pads the products so that the
    /// last one stays inside) and writes whole vectors into scratch rows of a full chunk.
    @inline(__always)
    static func outputRows(
        _ x: UnsafePointer<Float>, stride s: Int, into o: UnsafeMutablePointer<Float>, outStride os: Int,
        count: Int, bias: Float
    ) {
        var k = 0
        while k < count {
            let m0 = load(x + k), m1 = load(x + s + k), m2 = load(x + 2 * s + k)
            let m3 = load(x + 3 * s + k), m4 = load(x + 4 * s + k), m5 = load(x + 5 * s + k)
            let s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4
            store(m0 + s12 + s34 + bias, o + k, 8)
            store(d12 + 2 * d34 + bias, o + os + k, 8)
            store(s12 + 4 * s34 + bias, o + 2 * os + k, 8)
            store(d12 + 8 * d34 + m5 + bias, o + 3 * os + k, 8)
            k += 8
        }
    }
}

/// 3x3 weights transformed for `Winograd.convolve`: `U = G g Gᵀ` (6x6) for every output and
/// input channel, computed in Double once at load and kept as 36 GEMM operands `[Cout, Cin]`.
/// Four times the memory of the 3x3 weights.
public struct WinogradWeights: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    /// `[36, Cout, Cin]`: `values[(ξ·Cout + co)·Cin + ci] = (G g[co, ci] Gᵀ)_ξ`.
    public let values: [Float]

    /// Transforms PyTorch-layout weights `[Cout, Cin, 3, 3]`.
    public init(_ weights: UnsafeBufferPointer<Float>, outChannels: Int, inChannels: Int) {
        precondition(weights.count == outChannels * inChannels * 9, "3x3 weights: \(outChannels)x\(inChannels)x3x3")
        self.inChannels = inChannels
        self.outChannels = outChannels
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
                        u[(i * 6 + j) * pairs + pair] = Float(value)
                    }
                }
            }
            initialized = 36 * pairs
        }
    }
}
