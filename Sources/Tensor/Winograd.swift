import TensorBF16
import Base

/// 3x3 convolutions with Winograd's minimal filtering (Lavin & Gray, "Fast Algorithms for
/// Convolutional Neural Networks", 2016), over blocked activations `[N, C/8, H, W, 8]`
/// (`Blocked`), in two tile sizes (`Winograd.Tile`): F(4x4, 3x3) and F(2x2, 3x3).
///
/// In F(4x4, 3x3) each 4x4 output tile comes from a 6x6 input tile `d` as
/// `Aᵀ [Σ_ci (G g Gᵀ) ⊙ (Bᵀ d B)] A`: 36 multiplies per tile and channel pair instead of 144.
/// As in ncnn and NNPACK, the sum over input channels becomes 36 independent GEMMs, one per
/// position ξ of the 6x6 transformed tile: `M_ξ [tiles, Cout] = V_ξ [tiles, Cin] × U_ξ [Cin, Cout]`.
/// F(2x2, 3x3) is the same with 4x4 input tiles: 16 GEMMs, 16 multiplies per 4 outputs. It
/// does more arithmetic but reads 16/36 of the weights, which wins where the GEMMs have so
/// few rows that streaming the weights is the cost (`Tile.choice`).
///
/// A convolution runs as three passes, each split over `Parallel.threadCount` parts: the input
/// transform (by tile; an `InputAffine` is applied as the tile is read, so padding stays zero),
/// the GEMMs (by ξ: `PanelGEMM` on prepacked weights on x86-64, single-threaded OpenBLAS
/// elsewhere, or `magfleet_bf16_gemm` with bf16 operands for `--precision bf16`;
/// `WinogradWeights.Layout`), and the output transform
/// (by tile) with the bias and the `Epilogue` fused in. In the blocked layout a tile's pixel is
/// one 8-lane vector of channels, so both transforms are pure vector arithmetic with
/// contiguous loads and stores. Tiles are taken in blocks so that the transformed data stays
/// bounded whatever the batch.
///
/// Numerics: the points are 0, ±1, ±2 and ∞ (F(2x2): 0, ±1 and ∞); the weight transform runs
/// in Double. Against the float64 reference the error is a few float32 ulps of the sum of
/// |products| (Tests/TensorTests/WinogradTests.swift states the bound).
public enum Winograd {
    /// The output tile size, which sets everything else.
    public enum Tile: Sendable, CaseIterable {
        /// F(4x4, 3x3): 6x6 input tiles, 36 GEMMs.
        case f4x4
        /// F(2x2, 3x3): 4x4 input tiles, 16 GEMMs.
        case f2x2

        /// Output pixels per tile side.
        public var output: Int { self == .f4x4 ? 4 : 2 }
        /// Input pixels per tile side: `output + 2`.
        public var input: Int { output + 2 }
        /// Transformed positions per tile: the number of GEMMs per convolution.
        public var positions: Int { input * input }

        /// The tile size for `g`: F(2x2) where the F(4x4) GEMMs would have fewer than 16 rows
        /// (tiles in the batch), F(4x4) elsewhere. With so few rows each weight streamed from
        /// memory is used for at most two 8-row kernel blocks and the GEMMs wait on memory; F(2x2)
        /// reads 16/36 of the bytes for 16/9 of the arithmetic. The engine applies it per layer
        /// at load, to one image (iresnet100's 7x7 layers: 4 tiles; their GEMMs took 3.3 ms
        /// per image at batch 1 in F(2x2) against 5.8 in F(4x4), docs/performance.md).
        public static func choice(_ g: ConvGeometry) -> Tile {
            Tiling(g, tile: .f4x4).count < 16 ? .f2x2 : .f4x4
        }
    }

    typealias Vector = Blocked.Vector

    /// Multiply-adds x 2 the GEMMs of one Winograd convolution issue: `positions` GEMMs of
    /// `tiles x Cin x Cout` (edge tiles counted whole, as they are computed).
    public static func gemmFlops(_ g: ConvGeometry, tile: Tile) -> Double {
        2 * Double(tile.positions) * Double(Tiling(g, tile: tile).count) * Double(g.inChannels) * Double(g.outChannels)
    }

    /// Whether Winograd computes `g` here: a 3x3 kernel, stride 1, padding 1, channel counts
    /// that are multiples of 8.
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
    ///   - blockTiles: the most tiles each pass takes at a time (split evenly over the
    ///     layer's tiles); nil for `blockTiles(count:positions:inChannels:outChannels:)`.
    ///   - inputAffine: a per-input-channel `x · scale + shift` applied as tiles are read (an
    ///     inference BatchNorm before the conv; padding stays zero).
    ///   - epilogue: what follows the bias, in the output transform's pass.
    public static func convolve(
        _ g: ConvGeometry, input: UnsafePointer<Float>, weights: WinogradWeights,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
        workspace: inout Workspace, blockTiles: Int? = nil,
        inputAffine: InputAffine? = nil, epilogue: Epilogue = .none
    ) {
        precondition(supports(g), "Winograd needs a 3x3 stride-1 padding-1 convolution on multiples of 8 channels, got \(g)")
        precondition(weights.inChannels == g.inChannels && weights.outChannels == g.outChannels,
                     "weights are \(weights.outChannels)x\(weights.inChannels), the conv is \(g)")
        switch weights.tile {
        case .f4x4:
            convolve(F4x4.self, g, input: input, weights: weights, bias: bias, output: output, workspace: &workspace,
                     blockTiles: blockTiles, inputAffine: inputAffine, epilogue: epilogue)
        case .f2x2:
            convolve(F2x2.self, g, input: input, weights: weights, bias: bias, output: output, workspace: &workspace,
                     blockTiles: blockTiles, inputAffine: inputAffine, epilogue: epilogue)
        }
    }

    /// `convolve` for one tile size, `T` (its transforms inline into the passes).
    static func convolve<T: TileTransform>(
        _: T.Type, _ g: ConvGeometry, input: UnsafePointer<Float>, weights: WinogradWeights,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
        workspace: inout Workspace, blockTiles: Int?, inputAffine: InputAffine?, epilogue: Epilogue
    ) {
        let tiling = Tiling(g, tile: T.tile), positions = T.tile.positions
        // The layer class `bench --phases` reports: the map and tile size.
        let layers = Phases.isEnabled ? "\(g.height)x\(g.width) F(\(T.tile.output)x\(T.tile.output))" : ""
        let cin = g.inChannels, cout = g.outChannels
        let most = blockTiles ?? Self.blockTiles(count: tiling.count, positions: positions, inChannels: cin, outChannels: cout)
        let blocks = (tiling.count + most - 1) / most, block = (tiling.count + blocks - 1) / blocks
        // Every float a pass reads was written by the pass before, so the buffers are not cleared.
        workspace.transformed.growUninitialized(to: positions * matrixStride(block, cin))
        workspace.products.growUninitialized(to: positions * matrixStride(block, cout))
        // The GEMMs in an order whose contiguous parts (the threads' shares) hold the bf16 and
        // the float32 positions in even proportions: a bf16 GEMM takes about half the time.
        let order = Self.balancedOrder(weights.isBF16)
        BLAS.withSingleThreadedKernels {
            weights.values.withUnsafeBufferPointer { u in
            weights.pairs.withUnsafeBufferPointer { u16 in
                workspace.transformed.withUnsafeMutableBufferPointer { v in
                    workspace.products.withUnsafeMutableBufferPointer { m in
                        nonisolated(unsafe) let u = u.baseAddress, u16 = u16.baseAddress, v = v.baseAddress!, m = m.baseAddress!
                        nonisolated(unsafe) let input = input, output = output, bias = bias, epilogue = epilogue
                        var first = 0
                        while first < tiling.count {
                            let tiles = first..<min(first + block, tiling.count), n = tiles.count
                            Phases.measure("Winograd input transforms", layers) {
                                Parallel.forEachPart(n) { part in
                                    for k in part {
                                        transformInput(T.self, tiling, tile: tiles.lowerBound + k, input: input, affine: inputAffine,
                                                       into: v + k * cin, stride: matrixStride(n, cin))
                                    }
                                }
                            }
                            let layout = weights.layout
                            Phases.measure("Winograd GEMMs", layers, flops: 2 * Double(positions * n * cin * cout)) {
                            Parallel.forEachPart(positions) { part in
                                for k in part {
                                    let xi = order[k], slot = weights.slots[xi]
                                    let a = v + xi * matrixStride(n, cin), c = m + xi * matrixStride(n, cout)
                                    switch layout {
                                    case .matrices:
                                        BLAS.sgemm(m: n, n: cout, k: cin, a: a, lda: cin, b: u! + xi * cin * cout, ldb: cout,
                                                   c: c, ldc: cout)
                                    case .panels:
                                        PanelGEMM.multiply(m: n, n: cout, k: cin, a: a, lda: cin, panels: u! + xi * cin * cout,
                                                           c: c, ldc: cout)
                                    case .bf16Panels where weights.isBF16[xi]:
                                        // V_ξ becomes bf16 in place (its rows are contiguous, `cin` apart), then
                                        // the GEMM reads it at half the bytes.
                                        let a16 = UnsafeMutableRawPointer(a).assumingMemoryBound(to: UInt16.self)
                                        magfleet_bf16_convert(a, a16, n * cin)
                                        magfleet_bf16_gemm(n, cout, cin, a16, cin, u16! + slot * cin * cout / 2, c, cout)
                                    case .bf16Panels:
                                        PanelGEMM.multiply(m: n, n: cout, k: cin, a: a, lda: cin, panels: u! + slot * cin * cout,
                                                           c: c, ldc: cout)
                                    }
                                }
                            }
                            }
                            Phases.measure("Winograd output transforms", layers) {
                                Parallel.forEachPart(n) { part in
                                    for k in part {
                                        transformOutput(T.self, tiling, tile: tiles.lowerBound + k, products: m + k * cout,
                                                        stride: matrixStride(n, cout), output: output, bias: bias, epilogue: epilogue)
                                    }
                                }
                            }
                            first = tiles.upperBound
                        }
                    }
                }
            }
            }
        }
    }

    /// The tiles a block takes by default: as many as keep the block's transformed inputs and
    /// products (`positions · (inChannels + outChannels)` floats a tile) within `budget` bytes,
    /// one core's L2 cache, so that each pass reads what the pass before wrote from L2 rather
    /// than L3; but at least 16 (or all of them, if fewer), because every block reads all of
    /// the layer's transformed weights (9 MiB at 256 channels, from L3 or memory), and a
    /// block of fewer rows gives each weight panel fewer than two 8-row kernel blocks: the
    /// GEMMs then wait on memory. On Zen 4 (1 MiB L2) a 14x14 layer at batch 8 takes blocks
    /// of 16 tiles instead of all 128 (docs/performance.md, "Winograd blocks sized to L2").
    public static func blockTiles(
        count: Int, positions: Int, inChannels: Int, outChannels: Int, budget: Int = HostCPU.l2CacheBytes
    ) -> Int {
        let fit = budget / (MemoryLayout<Float>.size * positions * (inChannels + outChannels))
        return min(count, max(fit, minimumBlockTiles))
    }

    /// The fewest tiles a block takes by default (`blockTiles`).
    public static let minimumBlockTiles = 16

    /// The positions `0..<isBF16.count` with the two kinds interleaved in proportion (the one
    /// behind in its share goes next), so that any contiguous run of them, a thread's part,
    /// holds as many of each as the whole would give it, within one.
    static func balancedOrder(_ isBF16: [Bool]) -> [Int] {
        let bf16 = isBF16.indices.filter { isBF16[$0] }, f32 = isBF16.indices.filter { !isBF16[$0] }
        guard !bf16.isEmpty, !f32.isEmpty else { return Array(isBF16.indices) }
        var order: [Int] = [], b = 0, f = 0
        while order.count < isBF16.count {
            // Take a bf16 position while its count lags its share of those taken so far.
            if f == f32.count || (b < bf16.count && b * isBF16.count < (order.count + 1) * bf16.count) {
                order.append(bf16[b]); b += 1
            } else {
                order.append(f32[f]); f += 1
            }
        }
        return order
    }

    /// The distance between two of the matrices `[tiles, channels]` in the workspace: one
    /// cache line more than their size, so that a transform, which touches the same row of all
    /// of them at once, does not meet them all in one L1 cache set at power-of-two sizes (no
    /// difference measured on the benchmark machine; it costs 64 bytes a matrix).
    static func matrixStride(_ tiles: Int, _ channels: Int) -> Int {
        tiles * channels + 16
    }

    /// Where each output tile lies: tiles are numbered image by image, row by row.
    struct Tiling {
        let g: ConvGeometry
        let size: Int
        let rows: Int, columns: Int
        var perImage: Int { rows * columns }
        var count: Int { g.batch * perImage }

        init(_ g: ConvGeometry, tile: Tile) {
            self.g = g
            size = tile.output
            rows = (g.height + size - 1) / size
            columns = (g.width + size - 1) / size
        }

        /// The tile's image, and the top-left of its output tile.
        @inline(__always)
        func origin(_ t: Int) -> (n: Int, y: Int, x: Int) {
            let n = t / perImage, r = t % perImage
            return (n, (r / columns) &* size, (r % columns) &* size)
        }
    }

    /// `V[ξ, t, ci] = (Bᵀ d B)_ξ` for one tile and all input channels, eight at a time:
    /// `into + ξ·stride + ci`. Each row of the tile is read (with the affine, zeros outside
    /// the image) and transformed along the row (`d B`) into a scratch tile, whose columns are
    /// then transformed (`Bᵀ ·`) and stored into V.
    @inline(__always)
    static func transformInput<T: TileTransform>(
        _: T.Type, _ tiling: Tiling, tile t: Int, input: UnsafePointer<Float>, affine: InputAffine?,
        into v: UnsafeMutablePointer<Float>, stride: Int
    ) {
        let g = tiling.g, h = g.height, w = g.width, blocks = g.inChannels / Blocked.width
        let size = T.tile.input
        let (n, y0, x0) = tiling.origin(t)
        // The input tile covers rows y0−1…y0+size−2 and the same columns from x0−1; the part
        // inside the image is rows r0..<r1 and columns c0..<c1 of it, the rest is padding (zeros).
        let r0 = y0 == 0 ? 1 : 0, r1 = min(size, h - y0 + 1), c0 = x0 == 0 ? 1 : 0, c1 = min(size, w - x0 + 1)
        let interior = r0 == 0 && r1 == size && c0 == 0 && c1 == size
        let pixel = Blocked.width, line = w &* Blocked.width
        withUnsafeTemporaryAllocation(of: Vector.self, capacity: T.tile.positions) { scratch in
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
                for r in 0..<size {
                    let row = corner + r &* line, out = e + r &* size
                    @inline(__always) func at(_ c: Int) -> Vector {
                        shift.addingProduct(Blocked.load(row + c &* pixel), scale)
                    }
                    if interior {
                        T.input({ at($0) }, { out[$0] = $1 })
                    } else if r < r0 || r >= r1 {
                        for j in 0..<size { out[j] = Vector(repeating: 0) }
                    } else {
                        T.input({ $0 >= c0 && $0 < c1 ? at($0) : Vector(repeating: 0) }, { out[$0] = $1 })
                    }
                }
                let out = v + cb &* Blocked.width
                for j in 0..<size {
                    T.input({ e[$0 &* size &+ j] }, { Blocked.store($1, out + ($0 &* size &+ j) &* stride) })
                }
            }
        }
    }

    /// `Y = Aᵀ M A` + bias + epilogue for one tile and all output channels, eight at a time,
    /// read from `products + ξ·stride + co` and written into the blocked output, clipped at the
    /// image's edge: the columns of M are transformed (`Aᵀ ·`) into a scratch as they are
    /// read, then its rows (`· A`) straight into the output.
    @inline(__always)
    static func transformOutput<T: TileTransform>(
        _: T.Type, _ tiling: Tiling, tile t: Int, products m: UnsafePointer<Float>, stride: Int,
        output: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, epilogue: Epilogue
    ) {
        let g = tiling.g, h = g.height, w = g.width, blocks = g.outChannels / Blocked.width
        let size = T.tile.input, outSize = T.tile.output
        let (n, y0, x0) = tiling.origin(t)
        let rows = min(outSize, h - y0), columns = min(outSize, w - x0)
        withUnsafeTemporaryAllocation(of: Vector.self, capacity: outSize * size) { scratch in
            let r = scratch.baseAddress!
            for ob in 0..<blocks {
                let src = m + ob &* Blocked.width
                for j in 0..<size {
                    T.output({ Blocked.load(src + ($0 &* size &+ j) &* stride) }, { r[$0 &* size &+ j] = $1 })
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
                    let row = r + i &* size
                    let first = ((y0 &+ i) &* w &+ x0) &* Blocked.width
                    T.output({ row[$0] }) { j, value in
                        guard j < columns else { return }
                        let at = first &+ j &* Blocked.width
                        var y = value + b
                        if let residual {
                            y += Blocked.load(residual + at)
                        } else {
                            y = Blocked.prelu(y, slope)
                        }
                        Blocked.store(y, target + at)
                    }
                }
            }
        }
    }
}

/// The transforms of one tile size, applied to one row or column of a tile: `x(i)` reads its
/// `i`th vector (each once, before any write), `write(i, value)` takes the `i`th result.
protocol TileTransform {
    static var tile: Winograd.Tile { get }
    /// `Bᵀ x`: `tile.input` vectors in, as many out.
    static func input(_ x: (Int) -> Blocked.Vector, _ write: (Int, Blocked.Vector) -> Void)
    /// `Aᵀ x`: `tile.input` vectors in, `tile.output` out.
    static func output(_ x: (Int) -> Blocked.Vector, _ write: (Int, Blocked.Vector) -> Void)
}

/// F(4x4, 3x3), points 0, ±1, ±2, ∞ (the matrices of ncnn's and Lavin's F(4x4, 3x3)).
enum F4x4: TileTransform {
    static var tile: Winograd.Tile { .f4x4 }

    /// 14 vector operations.
    @inline(__always)
    static func input(_ x: (Int) -> Blocked.Vector, _ write: (Int, Blocked.Vector) -> Void) {
        let d0 = x(0), d1 = x(1), d2 = x(2), d3 = x(3), d4 = x(4), d5 = x(5)
        let s12 = d1 + d2, d12 = d1 - d2, s34 = d3 + d4, d43 = d4 - d3, d42 = d4 - d2, d13 = d1 - d3
        write(0, d4.addingProduct(-5 as Float, d2).addingProduct(4 as Float, d0))
        write(1, s34.addingProduct(-4 as Float, s12))
        write(2, d43.addingProduct(4 as Float, d12))
        write(3, d42.addingProduct(-2 as Float, d13))
        write(4, d42.addingProduct(2 as Float, d13))
        write(5, d5.addingProduct(-5 as Float, d3).addingProduct(4 as Float, d1))
    }

    /// 10 vector operations.
    @inline(__always)
    static func output(_ x: (Int) -> Blocked.Vector, _ write: (Int, Blocked.Vector) -> Void) {
        let m0 = x(0), m1 = x(1), m2 = x(2), m3 = x(3), m4 = x(4), m5 = x(5)
        let s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4
        write(0, m0 + s12 + s34)
        write(1, d12.addingProduct(2 as Float, d34))
        write(2, s12.addingProduct(4 as Float, s34))
        write(3, (d12 + m5).addingProduct(8 as Float, d34))
    }
}

/// F(2x2, 3x3), points 0, ±1, ∞.
enum F2x2: TileTransform {
    static var tile: Winograd.Tile { .f2x2 }

    @inline(__always)
    static func input(_ x: (Int) -> Blocked.Vector, _ write: (Int, Blocked.Vector) -> Void) {
        let d0 = x(0), d1 = x(1), d2 = x(2), d3 = x(3)
        write(0, d0 - d2)
        write(1, d1 + d2)
        write(2, d2 - d1)
        write(3, d1 - d3)
    }

    @inline(__always)
    static func output(_ x: (Int) -> Blocked.Vector, _ write: (Int, Blocked.Vector) -> Void) {
        let m0 = x(0), m1 = x(1), m2 = x(2), m3 = x(3)
        write(0, m0 + m1 + m2)
        write(1, m1 - m2 - m3)
    }
}

/// 3x3 weights transformed for `Winograd.convolve`: `U = G g Gᵀ` (`tile.input` squared) for
/// every output and input channel, computed in Double once at load and kept as one GEMM
/// operand `[Cin, Cout]` per position. F(4x4): 36 operands, four times the memory of the 3x3
/// weights; F(2x2): 16.
public struct WinogradWeights: Sendable {
    /// How the operands are stored, which decides the GEMM that reads them.
    public enum Layout: Sendable {
        /// Row-major `[Cin, Cout]` each, for OpenBLAS.
        case matrices
        /// `Cout / w` panels `[Cin, w]` each, for `PanelGEMM` (where it has a kernel,
        /// `PanelGEMM.hostKernel`; `w` its `PanelGEMM.panelWidth`, 32 or 16; `Cout` a multiple
        /// of 32).
        case panels
        /// `--precision bf16` (TensorBF16, AVX512_BF16 CPUs only): at the positions
        /// `WinogradWeights.bf16Positions` names, the panels of `.panels` in bfloat16, two rows
        /// of a panel interleaved into 32-bit pairs, for `magfleet_bf16_gemm` (the transformed
        /// inputs are rounded to bf16 too; products accumulate in float32); at the others, the
        /// float32 panels of `.panels`, for `PanelGEMM`.
        case bf16Panels
    }

    public let inChannels: Int
    public let outChannels: Int
    public let tile: Winograd.Tile
    public let layout: Layout
    /// The operands, `Cin·Cout` floats each. `.matrices`: `values[(ξ·Cin + ci)·Cout + co]`;
    /// `.panels`: `values[ξ·Cin·Cout + ((co / w)·Cin + ci)·w + co % w]`; both
    /// `(G g[co, ci] Gᵀ)_ξ`. `.bf16Panels`: the float32 positions only, as `.panels` with
    /// `slots[ξ]` in place of ξ.
    public let values: [Float]
    /// `.bf16Panels` only (else empty), its bf16 positions: `pairs[s·Cin·Cout/2 + ((co / 32)·Cin/2
    /// + t)·32 + co % 32]`, `s = slots[ξ]`, holds the operand's rows `2t` (low 16 bits) and
    /// `2t + 1` (high) at column `co`, each its float32 value rounded to the nearest bf16 (ties
    /// to even).
    public let pairs: [UInt32]
    /// Per position: whether its GEMM takes bf16 operands (`.bf16Panels` and one of
    /// `bf16Positions`), else float32.
    public let isBF16: [Bool]
    /// Per position: its operand's index in `pairs` (bf16) or `values` (float32), in units of
    /// one operand.
    public let slots: [Int]

    /// The positions `.bf16Panels` computes in bf16: those whose rounding errors the output
    /// transform amplifies least. In F(4x4) an error in the product at position (i, j) reaches
    /// the output scaled by columns i and j of `Aᵀ` (entries up to 8 at the points ±2), so
    /// rounding every position costs cosine 0.9967 on the PyTorch-initialised iresnet100
    /// (`gen_engine.py DIR iresnet100`): below issue 20's 0.9995. Each position's share was
    /// measured alone (docs/performance.md, "bf16 by position"): row and column 0 (the point 0)
    /// and (1, 2), (2, 1), (2, 2) together give cosine 0.99974 there, 14 of the 36 GEMMs; the
    /// other 22 stay float32. F(2x2)'s transforms amplify little (entries ±1): all 16 in bf16.
    public static func bf16Positions(_ tile: Winograd.Tile) -> [Bool] {
        let size = tile.input
        return (0..<tile.positions).map { xi in
            let i = xi / size, j = xi % size
            return tile == .f2x2 || i == 0 || j == 0 || [[1, 2], [2, 1], [2, 2]].contains([i, j])
        }
    }

    /// Whether `.panels` can hold weights with this many output channels.
    public static func panelsFit(outChannels: Int) -> Bool {
        PanelGEMM.channelsFit(outChannels)
    }

    /// `x` rounded to the nearest bfloat16 (ties to even), as its 16 bits; NaN stays a NaN.
    static func bfloat16(_ x: Float) -> UInt32 {
        if x.isNaN { return 0x7FC0 }
        let bits = x.bitPattern
        return (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
    }

    /// `G` (`tile.input` x 3) in Double.
    static func g(_ tile: Winograd.Tile) -> [[Double]] {
        switch tile {
        case .f4x4:
            [[1.0 / 4, 0, 0],
             [-1.0 / 6, -1.0 / 6, -1.0 / 6],
             [-1.0 / 6, 1.0 / 6, -1.0 / 6],
             [1.0 / 24, 1.0 / 12, 1.0 / 6],
             [1.0 / 24, -1.0 / 12, 1.0 / 6],
             [0, 0, 1]]
        case .f2x2:
            [[1, 0, 0],
             [0.5, 0.5, 0.5],
             [0.5, -0.5, 0.5],
             [0, 0, 1]]
        }
    }

    /// Transforms PyTorch-layout weights `[Cout, Cin, 3, 3]`.
    public init(_ weights: UnsafeBufferPointer<Float>, outChannels: Int, inChannels: Int, tile: Winograd.Tile = .f4x4,
                layout: Layout = .matrices) {
        precondition(weights.count == outChannels * inChannels * 9, "3x3 weights: \(outChannels)x\(inChannels)x3x3")
        precondition(layout == .matrices || Self.panelsFit(outChannels: outChannels), "panels need a multiple of 32 output channels")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.tile = tile
        self.layout = layout
        guard layout == .bf16Panels else {
            values = Self.transform(weights, outChannels: outChannels, inChannels: inChannels, tile: tile,
                                    panelWidth: layout == .matrices ? nil : PanelGEMM.panelWidth)
            pairs = []
            isBF16 = Array(repeating: false, count: tile.positions)
            slots = Array(0..<tile.positions)
            return
        }
        let isBF16 = Self.bf16Positions(tile), size = outChannels * inChannels
        var next = (bf16: 0, f32: 0)
        let slots = isBF16.map { bf16 in
            defer { if bf16 { next.bf16 += 1 } else { next.f32 += 1 } }
            return bf16 ? next.bf16 : next.f32
        }
        self.slots = slots
        self.isBF16 = isBF16
        // bf16's panels are `magfleet_bf16_gemm`'s 32 columns wide on every CPU that runs it;
        // the float32 ones `PanelGEMM`'s (also 32 where AVX-512 runs, one transform for both).
        let width = Int(MAGFLEET_BF16_PANEL_WIDTH)
        let wide = Self.transform(weights, outChannels: outChannels, inChannels: inChannels, tile: tile, panelWidth: width)
        let narrow = PanelGEMM.panelWidth == width ? wide
            : Self.transform(weights, outChannels: outChannels, inChannels: inChannels, tile: tile, panelWidth: PanelGEMM.panelWidth)
        values = [Float](unsafeUninitializedCapacity: next.f32 * size) { v, initialized in
            for xi in 0..<tile.positions where !isBF16[xi] {
                let target = v.baseAddress! + slots[xi] * size
                narrow.withUnsafeBufferPointer { target.initialize(from: $0.baseAddress! + xi * size, count: size) }
            }
            initialized = next.f32 * size
        }
        // Rows 2t and 2t + 1 of each panel `[Cin, 32]` into one row of 32 pairs.
        let rows = size / (2 * width)
        pairs = [UInt32](unsafeUninitializedCapacity: next.bf16 * size / 2) { p, initialized in
            for xi in 0..<tile.positions where isBF16[xi] {
                let source = xi * size, target = slots[xi] * size / 2
                for row in 0..<rows {
                    let even = source + 2 * row * width
                    for lane in 0..<width {
                        p[target + row * width + lane] = Self.bfloat16(wide[even + lane]) | Self.bfloat16(wide[even + width + lane]) << 16
                    }
                }
            }
            initialized = next.bf16 * size / 2
        }
    }

    /// `U` in the `.matrices` layout, or (`panelWidth`) in panels that wide.
    ///
    /// Eight output channels at a time, one per lane of a `SIMD8<Double>`: every value is the
    /// same sum of products, in the same order and precision, as the one-kernel-at-a-time
    /// formula (`WinogradTests` holds them to the bit), but each of the `tile.positions`
    /// operands gets eight neighbouring floats per step instead of one float per cache line.
    /// The scalar version took ~0.7 s of CPU in iresnet100's load (most of a worker's start).
    static func transform(_ weights: UnsafeBufferPointer<Float>, outChannels: Int, inChannels: Int, tile: Winograd.Tile,
                          panelWidth: Int?) -> [Float] {
        let g = Self.g(tile).flatMap { $0 }  // size x 3, row-major
        let size = tile.input, positions = tile.positions, pairs = outChannels * inChannels
        // Where the value of position ξ for channels (co, ci) goes.
        func offset(_ xi: Int, _ co: Int, _ ci: Int) -> Int {
            if let width = panelWidth { return xi * pairs + ((co / width) * inChannels + ci) * width + co % width }
            return (xi * inChannels + ci) * outChannels + co
        }
        let lanes = 8, groups = (outChannels + lanes - 1) / lanes
        // Whether a full group's eight floats are neighbours (inside one panel row when panels).
        let groupsAreContiguous = panelWidth.map { $0 % lanes == 0 } ?? true
        return [Float](unsafeUninitializedCapacity: positions * pairs) { u, initialized in
            let u = u.baseAddress!, w = weights.baseAddress!
            Parallel.adviseHugePages(UnsafeMutableRawPointer(u), bytes: positions * pairs * MemoryLayout<Float>.stride)
            // Over the engine's threads (a worker's start: iresnet100 has ~0.8 GiB of these,
            // whose first writes also fault the pages in), by (input channel, group of eight
            // output channels): each value is computed alone, so the split changes no bit.
            Parallel.forEachPart(inChannels * groups) { part in
                g.withUnsafeBufferPointer { g in
                    withUnsafeTemporaryAllocation(of: SIMD8<Double>.self, capacity: 9 + size * 3) { scratch in
                        let k = scratch.baseAddress!, t = k + 9
                        for unit in part {
                            let ci = unit / groups, first = (unit % groups) * lanes, count = min(lanes, outChannels - first)
                            // k[tap], lane l: weight (first + l, ci, tap); lanes past Cout are 0, never stored.
                            for tap in 0..<9 { k[tap] = .zero }
                            for l in 0..<count {
                                let kernel = w + ((first + l) * inChannels + ci) * 9
                                for tap in 0..<9 { k[tap][l] = Double(kernel[tap]) }
                            }
                            // t = G g (size x 3), then U = t Gᵀ (size x size).
                            for i in 0..<size {
                                for j in 0..<3 {
                                    t[i * 3 + j] = g[i * 3] * k[j] + g[i * 3 + 1] * k[3 + j] + g[i * 3 + 2] * k[6 + j]
                                }
                            }
                            let contiguous = count == lanes && groupsAreContiguous
                            for i in 0..<size {
                                for j in 0..<size {
                                    let value = SIMD8<Float>(t[i * 3] * g[j * 3] + t[i * 3 + 1] * g[j * 3 + 1] + t[i * 3 + 2] * g[j * 3 + 2])
                                    let xi = i * size + j
                                    if contiguous {
                                        UnsafeMutableRawPointer(u + offset(xi, first, ci)).storeBytes(of: value, as: SIMD8<Float>.self)
                                    } else {
                                        for l in 0..<count { u[offset(xi, first + l, ci)] = value[l] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            initialized = positions * pairs
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
