import Testing
@testable import Tensor

@Suite struct WinogradTests {
    /// Odd sizes (not multiples of the 4x4 tile, 1x1 and 2x5 maps smaller than a tile), odd
    /// channel counts, batches of 1 to 3, and a map with more tiles than one vectorised chunk.
    static let geometries: [ConvGeometry] = [
        ConvGeometry(inChannels: 5, outChannels: 7, batch: 2, height: 7, width: 9, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 17, outChannels: 19, batch: 3, height: 14, width: 14, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 3, outChannels: 4, batch: 1, height: 1, width: 1, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 4, outChannels: 6, batch: 2, height: 2, width: 5, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 9, outChannels: 8, batch: 3, height: 29, width: 30, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 32, outChannels: 16, batch: 1, height: 7, width: 7, kernel: 3, stride: 1, padding: 1),
    ]

    /// Runs `Winograd.convolve` on fresh buffers.
    static func winograd(
        _ g: ConvGeometry, input: [Float], weights: [Float], bias: [Float], maxWorkspace: Int = 1 << 23,
        scale: [Float]? = nil, shift: [Float]? = nil, slope: [Float]? = nil, residual: [Float]? = nil
    ) -> [Float] {
        let u = weights.withUnsafeBufferPointer { WinogradWeights($0, outChannels: g.outChannels, inChannels: g.inChannels) }
        var out = [Float](repeating: .nan, count: g.outputCount)
        var workspace = Winograd.Workspace()
        let sc = scale ?? [], sh = shift ?? [], sl = slope ?? [], r = residual ?? []
        sc.withUnsafeBufferPointer { sc in
            sh.withUnsafeBufferPointer { sh in
                sl.withUnsafeBufferPointer { sl in
                    r.withUnsafeBufferPointer { r in
                        out.withUnsafeMutableBufferPointer { o in
                            let affine = scale == nil ? nil : InputAffine(scale: sc.baseAddress!, shift: sh.baseAddress!)
                            let epilogue: Epilogue = slope != nil ? .prelu(sl.baseAddress!) : residual != nil ? .add(r.baseAddress!) : .none
                            Winograd.convolve(g, input: input, weights: u, bias: bias, output: o.baseAddress!,
                                              workspace: &workspace, maxWorkspace: maxWorkspace,
                                              inputAffine: affine, epilogue: epilogue)
                        }
                    }
                }
            }
        }
        return out
    }

    /// The bound: Winograd reassociates the 9·Cin products through transforms whose entries
    /// reach 8 (Aᵀ) and 5 (Bᵀ), so its float32 rounding grows with the sum of |products|, not
    /// with the result. Tolerance 5e-6 · Σ|x·w| over the receptive field (≈ 40 float32 ulps of
    /// that sum; the worst seen is 1.5e-6), checked output by output against the Double reference.
    static func worstRelativeError(_ g: ConvGeometry, _ out: [Float], _ expected: [Float], absSum: [Float]) -> Float {
        zip(zip(out, expected), absSum).map { pair, s in abs(pair.0 - pair.1) / max(s, 1e-30) }.max() ?? .nan
    }

    @Test(arguments: geometries, [1 << 23, 64])
    func matchesNaive(_ g: ConvGeometry, maxWorkspace: Int) {
        // maxWorkspace 64 floats forces blocks of one chunk (64 tiles): several blocks, the last
        // partial, on the 29x30 map.
        let input = seededValues(g.inputCount, seed: 21)
        let weights = seededValues(g.weightCount, seed: 22)
        let bias = seededValues(g.outChannels, seed: 23)
        let expected = Convolution.naive(g, input: input, weights: weights, bias: bias)
        let absSum = Convolution.naive(g, input: input.map(abs), weights: weights.map(abs))
        let out = Self.winograd(g, input: input, weights: weights, bias: bias, maxWorkspace: maxWorkspace)
        let worst = Self.worstRelativeError(g, out, expected, absSum: absSum)
        #expect(worst <= 5e-6, "\(g): max |Δ| / Σ|x·w| = \(worst)")
    }

    @Test(arguments: geometries)
    func fusedInputAffineAndEpiloguesMatchSeparatePasses(_ g: ConvGeometry) {
        // Reference: BatchNorm on the input, zero padding after it (as PyTorch pads bn1's
        // output), the naive conv, then PReLU or a residual add. Same bound as above.
        let input = seededValues(g.inputCount, seed: 31)
        let weights = seededValues(g.weightCount, seed: 32)
        let bias = seededValues(g.outChannels, seed: 33)
        let scale = seededValues(g.inChannels, seed: 34), shift = seededValues(g.inChannels, seed: 35)
        let slope = seededValues(g.outChannels, seed: 36), residual = seededValues(g.outputCount, seed: 37)
        let plane = g.batch * g.height * g.width
        let normalized = input.enumerated().map { i, x in x * scale[i / plane] + shift[i / plane] }
        let conv = Convolution.naive(g, input: normalized, weights: weights, bias: bias)
        let absSum = Convolution.naive(g, input: normalized.map(abs), weights: weights.map(abs))
        let positions = g.outPositions
        let expectedPReLU = conv.enumerated().map { i, v in v < 0 ? v * slope[i / positions] : v }
        let expectedAdd = zip(conv, residual).map { $0 + $1 }
        let prelu = Self.winograd(g, input: input, weights: weights, bias: bias, scale: scale, shift: shift, slope: slope)
        let add = Self.winograd(g, input: input, weights: weights, bias: bias, scale: scale, shift: shift, residual: residual)
        // PReLU scales an error by |slope| < 1; the add contributes one rounding of the sum.
        let worstPReLU = Self.worstRelativeError(g, prelu, expectedPReLU, absSum: absSum)
        let worstAdd = Self.worstRelativeError(g, add, expectedAdd, absSum: absSum.map { $0 + 1 })
        #expect(worstPReLU <= 5e-6, "\(g) prelu: \(worstPReLU)")
        #expect(worstAdd <= 5e-6, "\(g) add: \(worstAdd)")
    }

    @Test func weightTransformIsGgGt() {
        // One kernel, checked against the 6x6 matrix product written out in Double.
        let k: [Float] = [0.5, -1, 0.25, 2, 0.75, -0.5, 1, 0.125, -2]
        let u = k.withUnsafeBufferPointer { WinogradWeights($0, outChannels: 1, inChannels: 1) }
        let gm: [[Double]] = [[0.25, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                              [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]]
        for i in 0..<6 {
            for j in 0..<6 {
                var v = 0.0
                for a in 0..<3 { for b in 0..<3 { v += gm[i][a] * Double(k[a * 3 + b]) * gm[j][b] } }
                #expect(abs(Double(u.values[i * 6 + j]) - v) <= 1e-7 * max(1, abs(v)))
            }
        }
    }
}
