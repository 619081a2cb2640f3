import Testing
@testable import Tensor

/// Deterministic values in [-1, 1) (never zeros) for kernel tests.
func seededValues(_ count: Int, seed: UInt64) -> [Float] {
    var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        return Float(Double(s >> 11) * 0x1.0p-53 * 2 - 1)
    }
}

@Suite struct ConvolutionTests {
    /// Odd shapes: every kernel/stride/padding the iresnet uses, plus odd sizes and channels.
    static let geometries: [ConvGeometry] = [
        ConvGeometry(inChannels: 3, outChannels: 5, batch: 2, height: 7, width: 9, kernel: 3, stride: 1, padding: 1),
        ConvGeometry(inChannels: 5, outChannels: 7, batch: 3, height: 9, width: 6, kernel: 3, stride: 2, padding: 1),
        ConvGeometry(inChannels: 6, outChannels: 3, batch: 2, height: 11, width: 5, kernel: 1, stride: 2, padding: 0),
        ConvGeometry(inChannels: 4, outChannels: 9, batch: 1, height: 5, width: 5, kernel: 1, stride: 1, padding: 0),
        ConvGeometry(inChannels: 2, outChannels: 4, batch: 2, height: 6, width: 7, kernel: 3, stride: 1, padding: 0),
        ConvGeometry(inChannels: 3, outChannels: 2, batch: 1, height: 4, width: 3, kernel: 3, stride: 3, padding: 2),
    ]

    @Test(arguments: geometries, [1 << 23, 37])
    func im2colGEMMMatchesNaive(_ g: ConvGeometry, maxScratch: Int) {
        // maxScratch 37 floats forces one tile per ~column, so tiling across rows and images
        // is exercised. Tolerance: float32 sums of at most 45 products of values in [-1, 1]
        // against a Double reference: 1e-5 absolute is ~100 ulps of the largest sum.
        let input = seededValues(g.inputCount, seed: 1)
        let weights = seededValues(g.weightCount, seed: 2)
        let bias = seededValues(g.outChannels, seed: 3)
        let expected = Convolution.naive(g, input: input, weights: weights, bias: bias)
        var out = [Float](repeating: .nan, count: g.outputCount)
        var scratch: [Float] = []
        out.withUnsafeMutableBufferPointer { o in
            Convolution.im2colGEMM(g, input: input, weights: weights, bias: bias, output: o.baseAddress!,
                                   scratch: &scratch, maxScratch: maxScratch)
        }
        let worst = zip(out, expected).map { abs($0 - $1) }.max() ?? .nan
        #expect(worst <= 1e-5, "\(g): max |Δ| \(worst)")
    }

    @Test(arguments: geometries)
    func fusedInputAffineAndEpiloguesMatchSeparatePasses(_ g: ConvGeometry) {
        // Reference: BatchNorm applied to the input, the naive conv (zero padding after the
        // BatchNorm, as in PyTorch), then PReLU, or then a residual add. Same 1e-5 tolerance.
        let input = seededValues(g.inputCount, seed: 11)
        let weights = seededValues(g.weightCount, seed: 12)
        let bias = seededValues(g.outChannels, seed: 13)
        let scale = seededValues(g.inChannels, seed: 14), shift = seededValues(g.inChannels, seed: 15)
        let slope = seededValues(g.outChannels, seed: 16), residual = seededValues(g.outputCount, seed: 17)
        var normalized = input
        let plane = g.batch * g.height * g.width
        for i in 0..<normalized.count { normalized[i] = normalized[i] * scale[i / plane] + shift[i / plane] }
        let conv = Convolution.naive(g, input: normalized, weights: weights, bias: bias)
        let positions = g.outPositions
        let expectedPReLU = conv.enumerated().map { i, v in v < 0 ? v * slope[i / positions] : v }
        let expectedAdd = zip(conv, residual).map { $0 + $1 }
        for (name, expected) in [("prelu", expectedPReLU), ("add", expectedAdd)] {
            var out = [Float](repeating: .nan, count: g.outputCount)
            var scratch: [Float] = []
            scale.withUnsafeBufferPointer { sc in
                shift.withUnsafeBufferPointer { sh in
                    slope.withUnsafeBufferPointer { sl in
                        residual.withUnsafeBufferPointer { r in
                            out.withUnsafeMutableBufferPointer { o in
                                Convolution.im2colGEMM(
                                    g, input: input, weights: weights, bias: bias, output: o.baseAddress!, scratch: &scratch,
                                    inputAffine: InputAffine(scale: sc.baseAddress!, shift: sh.baseAddress!),
                                    epilogue: name == "prelu" ? .prelu(sl.baseAddress!) : .add(r.baseAddress!))
                            }
                        }
                    }
                }
            }
            let worst = zip(out, expected).map { abs($0 - $1) }.max() ?? .nan
            #expect(worst <= 1e-5, "\(g) \(name): max |Δ| \(worst)")
        }
    }

    @Test func channelOpsMatchFormulas() {
        let c = 3, plane = 7
        let x = seededValues(c * plane, seed: 4)
        let scale = seededValues(c, seed: 5), shift = seededValues(c, seed: 6), slope = seededValues(c, seed: 7)
        var a = x, p = x
        a.withUnsafeMutableBufferPointer { ChannelOps.affine($0.baseAddress!, channels: c, plane: plane, scale: scale, shift: shift) }
        p.withUnsafeMutableBufferPointer { ChannelOps.prelu($0.baseAddress!, channels: c, plane: plane, slope: slope) }
        for i in 0..<(c * plane) {
            let ch = i / plane
            // Exact: one multiply-add (affine) or one multiply (prelu) in float32 either way.
            #expect(a[i] == x[i] * scale[ch] + shift[ch])
            #expect(p[i] == (x[i] < 0 ? x[i] * slope[ch] : x[i]))
        }
    }

    @Test func layoutConversionsRoundTrip() {
        let n = 3, c = 4, plane = 5
        let x = seededValues(n * c * plane, seed: 8)
        var cnhw = [Float](repeating: 0, count: x.count), back = cnhw
        ChannelOps.nchwToCNHW(x, &cnhw, n: n, c: c, plane: plane)
        // Element (n=1, c=2, i=3) moves to [2, 1, 3].
        #expect(cnhw[(2 * n + 1) * plane + 3] == x[(1 * c + 2) * plane + 3])
        ChannelOps.cnhwToNCHW(cnhw, &back, n: n, c: c, plane: plane)
        #expect(back == x)
    }
}
