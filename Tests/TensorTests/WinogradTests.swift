import Foundation
import Synchronization
import Testing
@testable import Tensor
import TensorBF16
import Base

/// Whether `PanelGEMM` has a kernel for this CPU (any x86-64 the engine runs on).
let hasPanelGEMM = !PanelGEMM.available.isEmpty

/// `[C, N, H, W]` to the blocked layout `[N, C/8, H, W, 8]` and back.
func toBlocked(_ x: [Float], n: Int, c: Int, plane: Int) -> [Float] {
    var out = [Float](repeating: .nan, count: x.count)
    x.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { Blocked.fromChannelMajor(src.baseAddress!, $0.baseAddress!, n: n, c: c, plane: plane) }
    }
    return out
}

func fromBlocked(_ x: [Float], n: Int, c: Int, plane: Int) -> [Float] {
    var nchw = [Float](repeating: .nan, count: x.count), cnhw = nchw
    x.withUnsafeBufferPointer { src in
        nchw.withUnsafeMutableBufferPointer { Blocked.toNCHW(src.baseAddress!, $0.baseAddress!, n: n, c: c, plane: plane) }
    }
    ChannelOps.nchwToCNHW(nchw, &cnhw, n: n, c: c, plane: plane)
    return cnhw
}

/// What a blocked kernel is checked with: the naive convolution on BatchNorm'd input, its
/// Σ|x·w| (the scale of the rounding error), and the fused epilogues applied separately.
struct Reference {
    let g: ConvGeometry
    let input, weights, bias, scale, shift, slope, residual: [Float]
    let plain, prelu, add, absSum: [Float]

    init(_ g: ConvGeometry, seed: UInt64) {
        self.g = g
        input = seededValues(g.inputCount, seed: seed)
        weights = seededValues(g.weightCount, seed: seed + 1)
        bias = seededValues(g.outChannels, seed: seed + 2)
        scale = seededValues(g.inChannels, seed: seed + 3)
        shift = seededValues(g.inChannels, seed: seed + 4)
        slope = seededValues(g.outChannels, seed: seed + 5)
        residual = seededValues(g.outputCount, seed: seed + 6)
        let inPlane = g.batch * g.height * g.width, positions = g.outPositions
        let input = input, scale = scale, shift = shift, slope = seededValues(g.outChannels, seed: seed + 5)
        let normalized = input.enumerated().map { i, x in x * scale[i / inPlane] + shift[i / inPlane] }
        let plain = Convolution.naive(g, input: normalized, weights: weights, bias: bias)
        self.plain = plain
        absSum = Convolution.naive(g, input: normalized.map(abs), weights: weights.map(abs))
        prelu = plain.enumerated().map { i, v in v < 0 ? v * slope[i / positions] : v }
        add = zip(plain, residual).map { $0 + $1 }
    }

    /// Runs `kernel(input, affine, epilogue, output)` on blocked buffers for each epilogue and
    /// returns the worst `|Δ| / (Σ|x·w| + 1)` against the reference (the +1 covers the residual's
    /// one rounding).
    func worstError(
        _ kernel: (UnsafePointer<Float>, InputAffine, Epilogue, UnsafeMutablePointer<Float>) -> Void
    ) -> Float {
        let n = g.batch, inPlane = g.height * g.width, outPlane = g.outHeight * g.outWidth
        let blockedInput = toBlocked(input, n: n, c: g.inChannels, plane: inPlane)
        let blockedResidual = toBlocked(residual, n: n, c: g.outChannels, plane: outPlane)
        var worst: Float = 0
        for which in 0..<3 {
            var out = [Float](repeating: .nan, count: g.outputCount)
            scale.withUnsafeBufferPointer { sc in
                shift.withUnsafeBufferPointer { sh in
                    slope.withUnsafeBufferPointer { sl in
                        blockedResidual.withUnsafeBufferPointer { r in
                            blockedInput.withUnsafeBufferPointer { x in
                                out.withUnsafeMutableBufferPointer { o in
                                    let epilogue: Epilogue = which == 0 ? .none : which == 1 ? .prelu(sl.baseAddress!) : .add(r.baseAddress!)
                                    kernel(x.baseAddress!, InputAffine(scale: sc.baseAddress!, shift: sh.baseAddress!), epilogue, o.baseAddress!)
                                }
                            }
                        }
                    }
                }
            }
            let got = fromBlocked(out, n: n, c: g.outChannels, plane: outPlane)
            let expected = [plain, prelu, add][which]
            for i in 0..<got.count { worst = max(worst, abs(got[i] - expected[i]) / (absSum[i] + 1e-30 + (which == 2 ? 1 : 0))) }
        }
        return worst
    }
}

@Suite struct WinogradTests {
    /// Odd sizes (not multiples of the 4x4 tile; 1x1 and 2x5 maps smaller than a tile), channel
    /// counts of 8 to 40, batches of 1 to 3.
    static let geometries: [ConvGeometry] = [
        ConvGeometry(inChannels: 8, outChannels: 16, batch: 2, height: 7, width: 9, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 24, outChannels: 40, batch: 3, height: 14, width: 14, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 8, outChannels: 8, batch: 1, height: 1, width: 1, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 16, outChannels: 8, batch: 2, height: 2, width: 5, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 16, outChannels: 16, batch: 3, height: 13, width: 11, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 32, outChannels: 16, batch: 1, height: 7, width: 7, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 16, outChannels: 32, batch: 2, height: 9, width: 7, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 40, outChannels: 64, batch: 3, height: 14, width: 14, kernel: 3, stride: 1, padding: 1),
    ]

    /// Both weight layouts where they apply: `.panels` needs 32·k output channels and a
    /// `PanelGEMM` kernel (the host's widest; `PanelGEMMTests` checks each).
    static func layouts(_ g: ConvGeometry) -> [WinogradWeights.Layout] {
        hasPanelGEMM && WinogradWeights.panelsFit(outChannels: g.outChannels) ? [.matrices, .panels] : [.matrices]
    }

    /// `.bf16Panels` against the same Double reference: at its bf16 positions V and U each
    /// rounded to bf16 (relative error ≤ 2^-9) before the products, so the bound is float32's
    /// scaled by the ratio of the unit roundoffs and more: 6e-3 · Σ|x·w| (the worst seen is
    /// printed: 0.0035 in F(4x4), 0.0022 in F(2x2); 0.018 in F(4x4) when all 36 positions were
    /// bf16).
    @Test(.enabled(if: HostCPU.hasAVX512BF16, "bf16 needs AVX512_BF16"),
          arguments: geometries.filter { WinogradWeights.panelsFit(outChannels: $0.outChannels) })
    func bf16MatchesNaive(_ g: ConvGeometry) {
        let reference = Reference(g, seed: 21)
        for tile in Winograd.Tile.allCases {
            let u = reference.weights.withUnsafeBufferPointer {
                WinogradWeights($0, outChannels: g.outChannels, inChannels: g.inChannels, tile: tile, layout: .bf16Panels)
            }
            var workspace = Winograd.Workspace()
            let worst = reference.bias.withUnsafeBufferPointer { bias in
                reference.worstError { input, affine, epilogue, output in
                    Winograd.convolve(g, input: input, weights: u, bias: bias.baseAddress!, output: output, workspace: &workspace,
                                      blockTiles: 8, inputAffine: affine, epilogue: epilogue)
                }
            }
            print("bf16 \(g) \(tile): max |Δ| / Σ|x·w| = \(worst)")
            #expect(worst <= 6e-3, "\(g) \(tile): max |Δ| / Σ|x·w| = \(worst)")
        }
    }

    /// `.bf16Panels` rounds only the positions the output transform amplifies least: in
    /// F(4x4) row and column 0 and (1, 2), (2, 1), (2, 2), 14 of 36 (the points ±2 and ∞, whose
    /// columns of Aᵀ reach 8, stay float32); in F(2x2) all 16.
    @Test func bf16PositionsLeaveTheAmplifiedOnesInFloat32() {
        let f4 = WinogradWeights.bf16Positions(.f4x4)
        #expect(f4.count == 36 && f4.filter { $0 }.count == 14)
        for (i, j) in [(0, 0), (0, 5), (5, 0), (1, 2), (2, 1), (2, 2), (0, 3)] { #expect(f4[i * 6 + j], "(\(i), \(j))") }
        for (i, j) in [(1, 1), (3, 3), (4, 4), (5, 5), (3, 5), (2, 4), (1, 3)] { #expect(!f4[i * 6 + j], "(\(i), \(j))") }
        #expect(WinogradWeights.bf16Positions(.f2x2) == Array(repeating: true, count: 16))
    }

    /// The bf16 layout keeps each float32 position's panels bit for bit as `.panels` has them,
    /// and each bf16 position's as pairs, in slots numbered in position order per kind.
    @Test(.enabled(if: hasPanelGEMM && PanelGEMM.panelWidth == 32 && HostCPU.hasAVX512BF16, "bf16 needs AVX512_BF16"))
    func bf16LayoutSplitsThePositions() {
        let g = ConvGeometry(inChannels: 16, outChannels: 32, batch: 1, height: 8, width: 8, kernel: 3, stride: 1, padding: 1)
        let reference = Reference(g, seed: 5), size = g.inChannels * g.outChannels
        for tile in Winograd.Tile.allCases {
            let (mixed, panels) = reference.weights.withUnsafeBufferPointer {
                (WinogradWeights($0, outChannels: g.outChannels, inChannels: g.inChannels, tile: tile, layout: .bf16Panels),
                 WinogradWeights($0, outChannels: g.outChannels, inChannels: g.inChannels, tile: tile, layout: .panels))
            }
            let bf16 = WinogradWeights.bf16Positions(tile), count = bf16.filter { $0 }.count
            #expect(mixed.isBF16 == bf16)
            #expect(mixed.values.count == (tile.positions - count) * size && mixed.pairs.count == count * size / 2)
            #expect(panels.isBF16.allSatisfy { !$0 } && panels.slots == Array(0..<tile.positions))
            var seen = (bf16: 0, f32: 0)
            for xi in 0..<tile.positions {
                if bf16[xi] {
                    #expect(mixed.slots[xi] == seen.bf16); seen.bf16 += 1
                    // The first pair of the slot: rows 0 and 1 of column 0, rounded.
                    let pair = mixed.pairs[mixed.slots[xi] * size / 2]
                    let (low, high) = (Float(bitPattern: (pair & 0xFFFF) << 16), Float(bitPattern: pair & 0xFFFF_0000))
                    #expect(abs(low - panels.values[xi * size]) <= abs(panels.values[xi * size]) / 256)
                    #expect(abs(high - panels.values[xi * size + 32]) <= abs(panels.values[xi * size + 32]) / 256)
                } else {
                    #expect(mixed.slots[xi] == seen.f32); seen.f32 += 1
                    let slot = mixed.slots[xi]
                    #expect(Array(mixed.values[slot * size..<(slot + 1) * size]) == Array(panels.values[xi * size..<(xi + 1) * size]))
                }
            }
        }
    }

    /// The GEMMs' order gives every contiguous part (a thread's share) bf16 and float32
    /// positions in the whole's proportion, within one each: a permutation, for any split.
    @Test func balancedOrderInterleavesTheKinds() {
        for isBF16 in [WinogradWeights.bf16Positions(.f4x4), WinogradWeights.bf16Positions(.f2x2),
                       Array(repeating: false, count: 36), (0..<36).map { $0 < 5 }] {
            let order = Winograd.balancedOrder(isBF16), bf16 = isBF16.filter { $0 }.count
            #expect(order.sorted() == Array(0..<isBF16.count))
            for length in 1...isBF16.count {
                for start in stride(from: 0, through: isBF16.count - length, by: 1) {
                    let taken = order[start..<start + length].filter { isBF16[$0] }.count
                    let share = Double(length * bf16) / Double(isBF16.count)
                    #expect(abs(Double(taken) - share) <= 1.5, "\(length) from \(start): \(taken) bf16, share \(share)")
                }
            }
        }
    }

    /// The bound: Winograd reassociates the 9·Cin products through transforms whose entries
    /// reach 8 (Aᵀ) and 5 (Bᵀ), so its float32 rounding grows with the sum of |products|, not
    /// with the result. Tolerance 5e-6 · Σ|x·w| over the receptive field (≈ 40 float32 ulps of
    /// that sum; the worst seen is 7.5e-7), output by output against the Double reference,
    /// with the input BatchNorm fused and each epilogue (none, PReLU, residual add).
    @Test(arguments: geometries, [nil, 8, 7])
    func matchesNaive(_ g: ConvGeometry, blockTiles: Int?) {
        // Blocks of at most 8 or 7 tiles: several blocks, of unequal sizes where 7 does not
        // divide the tiles; nil takes the default (`Winograd.blockTiles`).
        let reference = Reference(g, seed: 21)
        for tile in Winograd.Tile.allCases {
            for layout in Self.layouts(g) {
                let u = reference.weights.withUnsafeBufferPointer {
                    WinogradWeights($0, outChannels: g.outChannels, inChannels: g.inChannels, tile: tile, layout: layout)
                }
                var workspace = Winograd.Workspace()
                let worst = reference.bias.withUnsafeBufferPointer { bias in
                    reference.worstError { input, affine, epilogue, output in
                        Winograd.convolve(g, input: input, weights: u, bias: bias.baseAddress!, output: output, workspace: &workspace,
                                          blockTiles: blockTiles, inputAffine: affine, epilogue: epilogue)
                    }
                }
                #expect(worst <= 5e-6, "\(g) \(tile) \(layout): max |Δ| / Σ|x·w| = \(worst)")
            }
        }
    }

    /// The default block: transformed inputs and products of a block within the budget (one
    /// core's L2), at least 16 tiles, never more than the layer has.
    @Test func blockTilesFitTheBudget() {
        let mib = 1 << 20
        // iresnet100's 14x14 layers (256 channels, F(4x4): 36 positions, 16 tiles an image) on
        // a 1 MiB L2: 14 tiles would fit, the floor of 16 wins; at batch 1, 16 is all of them.
        #expect(Winograd.blockTiles(count: 128, positions: 36, inChannels: 256, outChannels: 256, budget: mib) == 16)
        #expect(Winograd.blockTiles(count: 16, positions: 36, inChannels: 256, outChannels: 256, budget: mib) == 16)
        // 2 MiB (Sapphire Rapids): 28.
        #expect(Winograd.blockTiles(count: 128, positions: 36, inChannels: 256, outChannels: 256, budget: 2 * mib) == 28)
        // The 56x56 layers (64 channels, 196 tiles an image): 56 fit.
        #expect(Winograd.blockTiles(count: 196, positions: 36, inChannels: 64, outChannels: 64, budget: mib) == 56)
        // Fewer tiles than the floor: all of them.
        #expect(Winograd.blockTiles(count: 4, positions: 16, inChannels: 512, outChannels: 512, budget: mib) == 4)
        #expect(HostCPU.l2CacheBytes >= 64 << 10)
    }

    /// The transform computes eight output channels per step; each value must be the bits of
    /// the one-kernel formula (t = G g, then t Gᵀ, in Double, rounded once to Float), in
    /// every layout, including output channels that do not fill the last eight.
    @Test(arguments: Winograd.Tile.allCases)
    func weightTransformIsTheScalarFormulaBitForBit(_ tile: Winograd.Tile) {
        let gm = WinogradWeights.g(tile), size = tile.input
        for (outChannels, inChannels, width) in [(12, 5, nil), (64, 3, 32), (64, 7, 16), (32, 8, nil)] as [(Int, Int, Int?)] {
            let k = seededValues(outChannels * inChannels * 9, seed: UInt64(outChannels + inChannels))
            let u = k.withUnsafeBufferPointer {
                WinogradWeights.transform($0, outChannels: outChannels, inChannels: inChannels, tile: tile, panelWidth: width)
            }
            let pairs = outChannels * inChannels
            var mismatches = 0
            for co in 0..<outChannels {
                for ci in 0..<inChannels {
                    let w = (co * inChannels + ci) * 9
                    var t = [Double](repeating: 0, count: size * 3)
                    for i in 0..<size {
                        for j in 0..<3 {
                            t[i * 3 + j] = gm[i][0] * Double(k[w + j]) + gm[i][1] * Double(k[w + 3 + j]) + gm[i][2] * Double(k[w + 6 + j])
                        }
                    }
                    for i in 0..<size {
                        for j in 0..<size {
                            let expected = Float(t[i * 3] * gm[j][0] + t[i * 3 + 1] * gm[j][1] + t[i * 3 + 2] * gm[j][2])
                            let xi = i * size + j
                            let at = width.map { xi * pairs + ((co / $0) * inChannels + ci) * $0 + co % $0 }
                                ?? (xi * inChannels + ci) * outChannels + co
                            if u[at].bitPattern != expected.bitPattern { mismatches += 1 }
                        }
                    }
                }
            }
            #expect(mismatches == 0, "\(outChannels)x\(inChannels), panel width \(width.map(String.init) ?? "none")")
        }
    }

    /// One kernel, checked against `G g Gᵀ` written out in Double, with each tile size's `G`
    /// as published (Lavin & Gray 2016; F(4x4) as in ncnn).
    @Test(arguments: Winograd.Tile.allCases)
    func weightTransformIsGgGt(_ tile: Winograd.Tile) {
        let k: [Float] = [0.5, -1, 0.25, 2, 0.75, -0.5, 1, 0.125, -2]
        let u = k.withUnsafeBufferPointer { WinogradWeights($0, outChannels: 1, inChannels: 1, tile: tile) }
        let gm: [[Double]] = switch tile {
        case .f4x4: [[0.25, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                     [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]]
        case .f2x2: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        }
        let size = gm.count
        #expect(u.values.count == size * size)
        for i in 0..<size {
            for j in 0..<size {
                var v = 0.0
                for a in 0..<3 { for b in 0..<3 { v += gm[i][a] * Double(k[a * 3 + b]) * gm[j][b] } }
                #expect(abs(Double(u.values[i * size + j]) - v) <= 1e-7 * max(1, abs(v)))
            }
        }
    }

    /// F(2x2) exactly where F(4x4) would give the GEMMs fewer than 16 rows.
    @Test func tileChoiceFollowsTheGEMMRows() {
        func choice(batch: Int, size: Int) -> Winograd.Tile {
            Winograd.Tile.choice(ConvGeometry(inChannels: 512, outChannels: 512, batch: batch, height: size, width: size,
                                              kernel: 3, stride: 1, padding: 1))
        }
        #expect(choice(batch: 1, size: 7) == .f2x2)  // 2 x 2 tiles
        #expect(choice(batch: 3, size: 7) == .f2x2)  // 12
        #expect(choice(batch: 4, size: 7) == .f4x4)  // 16
        #expect(choice(batch: 1, size: 14) == .f4x4)  // 4 x 4
        #expect(choice(batch: 1, size: 12) == .f2x2)  // 3 x 3
    }
}

@Suite struct BlockedTests {
    /// The blocked im2col path covers the fast path's other convolutions: stride 2 (3x3 and
    /// 1x1), and stride 1 below Winograd's channel minimum; odd sizes.
    static let geometries: [ConvGeometry] = [
        ConvGeometry(inChannels: 8, outChannels: 16, batch: 3, height: 9, width: 6, kernel: 3, stride: 2, padding: 1),
        ConvGeometry(inChannels: 16, outChannels: 8, batch: 2, height: 11, width: 5, kernel: 1, stride: 2, padding: 0),
        ConvGeometry(inChannels: 8, outChannels: 8, batch: 2, height: 7, width: 9, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 24, outChannels: 16, batch: 1, height: 14, width: 14, kernel: 3, stride: 2, padding: 1),
        ConvGeometry(inChannels: 16, outChannels: 32, batch: 2, height: 13, width: 10, kernel: 3, stride: 2, padding: 1),
        ConvGeometry(inChannels: 24, outChannels: 64, batch: 3, height: 9, width: 9, kernel: 1, stride: 2, padding: 0),
    ]

    @Test(arguments: geometries, [1 << 23, 100])
    func im2colGEMMMatchesNaive(_ g: ConvGeometry, maxScratch: Int) {
        // A plain float32 dot product per output: 1e-6 · (Σ|x·w| + 1), ~8 ulps of the sum (worst
        // seen 1.4e-7).
        // maxScratch 100 floats forces tiles of 64 positions.
        let reference = Reference(g, seed: 41)
        // Both weight layouts where they apply (panels: 32·k output channels, a PanelGEMM kernel).
        for panels in hasPanelGEMM && g.outChannels % 32 == 0 ? [false, true] : [false] {
            let weights = reference.weights.withUnsafeBufferPointer {
                BlockedWeights($0, outChannels: g.outChannels, inChannels: g.inChannels, kernel: g.kernel, panels: panels)
            }
            var scratch: [Float] = []
            let worst = reference.bias.withUnsafeBufferPointer { bias in
                reference.worstError { input, affine, epilogue, output in
                    Blocked.im2colGEMM(g, input: input, weights: weights, bias: bias.baseAddress!, output: output,
                                       scratch: &scratch, maxScratch: maxScratch, inputAffine: affine, epilogue: epilogue)
                }
            }
            #expect(worst <= 1e-6, "\(g) panels \(panels): max |Δ| / Σ|x·w| = \(worst)")
        }
    }

    @Test func layoutRoundTrips() {
        let n = 2, c = 16, plane = 5
        let x = seededValues(n * c * plane, seed: 9)
        let b = toBlocked(x, n: n, c: c, plane: plane)
        // Channel 11 of image 1, pixel 3: block 1, lane 3.
        #expect(b[((1 * 2 + 1) * plane + 3) * 8 + 3] == x[(11 * n + 1) * plane + 3])
        #expect(fromBlocked(b, n: n, c: c, plane: plane) == x)
    }
}

@Suite struct ParallelTests {
    @Test(arguments: [(37, 29, 41, false), (5, 300, 17, false), (300, 5, 17, true), (9, 130, 64, true)])
    func splitGEMMMatchesOneCall(_ m: Int, _ n: Int, _ k: Int, _ transposeB: Bool) {
        // Split by rows (m ≥ n) or by columns, under the single-threaded hold; the same
        // products per output as one OpenBLAS call, so equal to 1e-6 relative.
        let a = seededValues(m * k, seed: 51), b = seededValues(k * n, seed: 52)
        var one = seededValues(m * n, seed: 53), split = one
        let ldb = transposeB ? k : n
        BLAS.sgemm(transposeB: transposeB, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: ldb, beta: 1, c: &one, ldc: n)
        BLAS.withSingleThreadedKernels {
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    split.withUnsafeMutableBufferPointer { c in
                        Parallel.sgemm(transposeB: transposeB, m: m, n: n, k: k, a: a.baseAddress!, lda: k,
                                       b: b.baseAddress!, ldb: ldb, beta: 1, c: c.baseAddress!, ldc: n)
                    }
                }
            }
        }
        let worst = zip(one, split).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? .nan
        #expect(worst <= 1e-6)
    }

    /// Every index exactly once, in the parts `forEachPart` promises, for 2 to 5 parts (pools of
    /// 1 to 4 workers), over many passes back to back and after pauses long enough for the
    /// pool's workers to have gone to sleep.
    @Test(arguments: [2, 3, 4, 5])
    func partsCoverEveryIndexOnce(_ parts: Int) throws {
        for pass in 0..<400 {
            if pass % 20 == 19 { usleep(2_000) }  // workers sleep after ~0.1-0.6 ms of spinning
            let count = 7 + pass % 50
            let hits = Mutex([Int](repeating: 0, count: count))
            let ranges = Mutex<[Range<Int>]>([])
            Parallel.forEachPart(count, parts: parts) { range in
                hits.withLock { for i in range { $0[i] += 1 } }
                ranges.withLock { $0.append(range) }
            }
            #expect(hits.withLock { $0 } == [Int](repeating: 1, count: count), "pass \(pass)")
            let expected = (0..<parts).map { (count * $0 / parts)..<(count * ($0 + 1) / parts) }
            #expect(ranges.withLock { $0.sorted { $0.lowerBound < $1.lowerBound } } == expected)
        }
    }

    /// A pass started inside a part, and passes from several threads at once, find the pool
    /// busy and run on `concurrentPerform` instead: all complete, none waits on another.
    @Test func nestedAndConcurrentPassesComplete() {
        let total = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<50 {
                Parallel.forEachPart(6, parts: 2) { outer in
                    Parallel.forEachPart(10, parts: 2) { inner in
                        total.add(outer.count * inner.count, ordering: .relaxed)
                    }
                }
            }
        }
        #expect(total.load(ordering: .relaxed) == 4 * 50 * 6 * 10)
    }

    @Test func singleThreadedHoldRestoresTheThreadCount() {
        let before = BLAS.threadCount
        BLAS.withSingleThreadedKernels {
            BLAS.withSingleThreadedKernels { #expect(BLAS.threadCount == before) }  // reports the held count
        }
        #expect(BLAS.threadCount == before)
    }
}

@Suite(.enabled(if: hasPanelGEMM, "PanelGEMM has no kernel for this CPU")) struct PanelGEMMTests {
    /// Every kernel this CPU can run (AVX-512 machines check the AVX2 one too).
    @Test(arguments: [(1, 32, 1), (2, 64, 9), (5, 64, 7), (6, 32, 256), (7, 32, 3), (8, 32, 19), (13, 96, 33), (16, 64, 256),
                      (23, 32, 5), (49, 64, 64), (128, 256, 256), (4, 512, 512)])
    func matchesDoubleProduct(_ m: Int, _ n: Int, _ k: Int) {
        for kernel in PanelGEMM.available { check(kernel, m, n, k) }
    }

    func check(_ kernel: PanelGEMM.Kernel, _ m: Int, _ n: Int, _ k: Int) {
        // Blocks of every row count 1…8 (AVX-512, m = 23: 7 + 8 + 8 rows; 49: 7 x 7) and 1…6 (AVX2: 23 = 5 + 6 + 6 + 6),
        // odd k; a float32 dot product per output:
        // 1e-6 · (Σ|a·b| + 1) (~8 ulps of the sum).
        let a = seededValues(m * k, seed: 61), b = seededValues(k * n, seed: 62)
        var panels = [Float](repeating: .nan, count: k * n)
        let w = kernel.panelWidth
        for kk in 0..<k { for j in 0..<n { panels[(j / w) * k * w + kk * w + j % w] = b[kk * n + j] } }
        var c = [Float](repeating: .nan, count: m * n)
        a.withUnsafeBufferPointer { a in
            panels.withUnsafeBufferPointer { p in
                c.withUnsafeMutableBufferPointer { c in
                    PanelGEMM.multiply(kernel: kernel, m: m, n: n, k: k, a: a.baseAddress!, lda: k, panels: p.baseAddress!, c: c.baseAddress!, ldc: n)
                }
            }
        }
        let worst = worstProductError(m: m, n: n, k: k, a: a.map(Double.init), b: b.map(Double.init), c: c)
        #expect(worst <= 1e-6, "\(kernel) m \(m) n \(n) k \(k): \(worst)")
    }
}

/// The worst `|c − a·b| / (Σ|a·b| + 1)` over the outputs of an `m x k` by `k x n` product, the
/// reference summed in Double.
func worstProductError(m: Int, n: Int, k: Int, a: [Double], b: [Double], c: [Float]) -> Double {
    var worst = 0.0
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0, abs = 0.0
            for kk in 0..<k {
                let product = a[i * k + kk] * b[kk * n + j]
                sum += product
                abs += Swift.abs(product)
            }
            worst = max(worst, Swift.abs(Double(c[i * n + j]) - sum) / (abs + 1))
        }
    }
    return worst
}

/// The `--precision bf16` kernels (TensorBF16): the conversion rounds as the hardware's
/// VCVTNE2PS2BF16 (to nearest, ties to even; the Swift rounding that packs the weights agrees),
/// and the GEMM is the exact product of the rounded operands up to float32 summation.
@Suite(.enabled(if: HostCPU.hasAVX512BF16, "the bf16 kernels need AVX512_BF16")) struct BF16KernelTests {
    @Test(arguments: [1, 15, 16, 17, 31, 32, 33, 70, 1000])
    func convertRoundsToNearestEvenInPlace(_ count: Int) {
        // Ties: 1 + 2^-8 rounds down to 1, 1 + 3·2^-8 up to 1 + 2^-6; the rest seeded.
        var x = seededValues(count, seed: 71)
        x[0] = 1 + 1.0 / 256
        if count > 1 { x[1] = 1 + 3.0 / 256 }
        if count > 2 { x[2] = -0.0 }
        let expected = x.map { UInt16(WinogradWeights.bfloat16($0)) }
        #expect(WinogradWeights.bfloat16(1 + 1.0 / 256) == 0x3F80 && WinogradWeights.bfloat16(1 + 3.0 / 256) == 0x3F82)
        var separate = [UInt16](repeating: 0xFFFF, count: count + 1)
        x.withUnsafeBufferPointer { s in separate.withUnsafeMutableBufferPointer { magfleet_bf16_convert(s.baseAddress!, $0.baseAddress!, count) } }
        #expect(Array(separate.prefix(count)) == expected)
        #expect(separate[count] == 0xFFFF, "wrote past the end")
        var inPlace = x
        let converted = inPlace.withUnsafeMutableBufferPointer { b in
            let target = UnsafeMutableRawPointer(b.baseAddress!).assumingMemoryBound(to: UInt16.self)
            magfleet_bf16_convert(b.baseAddress!, target, count)
            return Array(UnsafeBufferPointer(start: target, count: count))
        }
        #expect(converted == expected)
    }

    @Test(arguments: [(1, 32, 2), (5, 64, 8), (7, 32, 34), (8, 32, 18), (13, 96, 32), (23, 32, 6), (49, 64, 64), (128, 256, 256)])
    func gemmIsTheProductOfTheRoundedOperands(_ m: Int, _ n: Int, _ k: Int) {
        // Every row count 1…8 in some block; a float32 sum per output: 1e-6 · (Σ|a·b| + 1).
        let a = seededValues(m * k, seed: 81), b = seededValues(k * n, seed: 82)
        func rounded(_ x: Float) -> Double { Double(Float(bitPattern: WinogradWeights.bfloat16(x) << 16)) }
        var a16 = [UInt16](repeating: 0, count: m * k)
        a.withUnsafeBufferPointer { s in a16.withUnsafeMutableBufferPointer { magfleet_bf16_convert(s.baseAddress!, $0.baseAddress!, m * k) } }
        var pairs = [UInt32](repeating: 0, count: k * n / 2)
        for t in 0..<(k / 2) {
            for j in 0..<n {
                pairs[(j / 32) * k * 16 + t * 32 + j % 32] = WinogradWeights.bfloat16(b[2 * t * n + j])
                    | WinogradWeights.bfloat16(b[(2 * t + 1) * n + j]) << 16
            }
        }
        var c = [Float](repeating: .nan, count: m * n)
        a16.withUnsafeBufferPointer { a in
            pairs.withUnsafeBufferPointer { p in
                c.withUnsafeMutableBufferPointer { magfleet_bf16_gemm(m, n, k, a.baseAddress!, k, p.baseAddress!, $0.baseAddress!, n) }
            }
        }
        let worst = worstProductError(m: m, n: n, k: k, a: a.map(rounded), b: b.map(rounded), c: c)
        #expect(worst <= 1e-6, "m \(m) n \(n) k \(k): \(worst)")
    }
}
