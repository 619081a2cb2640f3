import Tensor
import Base

/// Inference BatchNorm parameters: `y = (x − mean) / sqrt(var + eps) · weight + bias`.
struct BatchNorm {
    var weight, bias, mean, variance: [Float]

    /// Per channel `scale = weight / sqrt(var + eps)`, `shift = bias − mean · scale`, in Double.
    var scaleShiftDouble: ([Double], [Double]) {
        var s = [Double](), t = [Double]()
        for c in 0..<weight.count {
            let sc = Double(weight[c]) / (Double(variance[c]) + IResNetConfig.epsilon).squareRoot()
            s.append(sc)
            t.append(Double(bias[c]) - Double(mean[c]) * sc)
        }
        return (s, t)
    }

    var scaleShift: ([Float], [Float]) {
        let (s, t) = scaleShiftDouble
        return (s.map { Float($0) }, t.map { Float($0) })
    }
}

/// How the engine computes its convolutions.
public enum ConvolutionMode: String, Sendable, CaseIterable {
    /// Activations in the blocked layout `[N, C/8, H, W, 8]`, the algorithm chosen per layer
    /// at load (as ncnn's `create_pipeline` does): Winograd for the stride-1 3x3 convolutions
    /// with at least `Winograd.minimumChannels` input and output channels (F(4x4, 3x3), or
    /// F(2x2, 3x3) on maps too small for F(4x4): `Winograd.Tile.choice`),
    /// blocked im2col + GEMM for the stride-2 convs, the 1x1 downsamples and the 3-channel
    /// stem (its input and weights zero-padded to 8 channels); the fc on PanelGEMM panels
    /// (`DenseLayer`). Needs widths that are multiples of 8; other networks run
    /// `.exact`.
    case fast
    /// Activations `[C, N, H, W]`, im2col + GEMM everywhere: every output is a plain dot
    /// product (the error of a float32 sum), the reference the fast path is measured against.
    case exact
}

/// The number format of the fast path's Winograd GEMMs (`--precision`).
public enum Precision: String, Sendable, CaseIterable {
    /// float32 throughout: the default.
    case f32
    /// Opt-in, on CPUs with AVX512_BF16 (`HostCPU.hasAVX512BF16`): the Winograd GEMMs' operands,
    /// the transformed weights and inputs, are rounded to bfloat16 and their products summed in
    /// float32 (VDPBF16PS, twice FMA's multiply-adds per instruction); every other operation
    /// stays float32. Embeddings move from float32's by 1 - cosine of 1e-5 to 3e-3 depending on
    /// the network (docs/engine.md, "bf16"), so the model fingerprint records it and stores
    /// never mix the two.
    case bf16
}

extension Winograd {
    /// The fewest input and output channels for which `ConvolutionMode.fast` picks Winograd:
    /// below that, the transforms cost more than the GEMM saves (the 3-channel stem).
    static let minimumChannels = 16
}

/// A convolution with the BatchNorm after it folded in: `W'[co] = W[co]·scale[co]`,
/// `bias[co] = shift[co]`. Exact: the BatchNorm acts on the conv's output, after padding.
struct FoldedConv: Sendable {
    /// The folded weights, in the form the layer's algorithm reads them.
    enum Kernel: Sendable {
        /// `[Cout, Cin·k·k]` for `Convolution.im2colGEMM` on `[C, N, H, W]` activations: the
        /// exact path.
        case channelMajor([Float])
        /// `[k·k·Cin, Cout]` (`BlockedWeights`) for `Blocked.im2colGEMM`: the fast path's
        /// strided and 1x1 convolutions and its stem.
        case blocked(BlockedWeights)
        /// Transformed for Winograd on blocked activations, in the tile size chosen for the
        /// layer's map (`Winograd.Tile.choice`).
        case winograd(WinogradWeights)
    }

    let inChannels, outChannels, kernel, stride, padding: Int
    let weights: Kernel
    let bias: [Float]

    /// - Parameters:
    ///   - mapSize: the height and width of the layer's input (the network's are fixed).
    ///   - blocked: whether the layer runs in the fast path's blocked layout (`.fast` mode,
    ///     channel counts multiples of 8: the stem's 3 are padded to 8 first).
    ///   - precision: the Winograd GEMMs' number format (`.bf16`: the caller checked the CPU).
    init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, weights w: [Float],
         batchNorm: BatchNorm, mapSize: Int, blocked: Bool, precision: Precision = .f32) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        let (s, t) = batchNorm.scaleShiftDouble
        let per = inChannels * kernel * kernel
        var folded = [Float](repeating: 0, count: w.count)
        for co in 0..<outChannels {
            for i in 0..<per { folded[co * per + i] = Float(Double(w[co * per + i]) * s[co]) }
        }
        bias = t.map { Float($0) }
        let geometry = ConvGeometry(inChannels: inChannels, outChannels: outChannels, batch: 1, height: mapSize,
                                    width: mapSize, kernel: kernel, stride: stride, padding: padding)
        // Weights as PanelGEMM panels where that kernel can run, else for OpenBLAS.
        let panels = PanelGEMM.hostKernel != nil && WinogradWeights.panelsFit(outChannels: outChannels)
        if !blocked {
            weights = .channelMajor(folded)
        } else if Winograd.supports(geometry) && min(inChannels, outChannels) >= Winograd.minimumChannels {
            // The tile size for one image (`geometry` has batch 1): F(2x2) on maps too small for
            // F(4x4) to give even a single image's GEMMs 16 rows.
            weights = .winograd(folded.withUnsafeBufferPointer {
                WinogradWeights($0, outChannels: outChannels, inChannels: inChannels, tile: Winograd.Tile.choice(geometry),
                                layout: !panels ? .matrices : precision == .bf16 ? .bf16Panels : .panels)
            })
        } else {
            weights = .blocked(folded.withUnsafeBufferPointer {
                BlockedWeights($0, outChannels: outChannels, inChannels: inChannels, kernel: kernel, panels: panels)
            })
        }
    }

    func geometry(batch: Int, height: Int, width: Int) -> ConvGeometry {
        ConvGeometry(inChannels: inChannels, outChannels: outChannels, batch: batch, height: height, width: width,
                     kernel: kernel, stride: stride, padding: padding)
    }
}

/// One IBasicBlock: `bn1 → conv1(+bn2) → prelu → conv2(+bn3)`, plus the identity or
/// `downsample` (1x1 conv + BN). bn1 is applied directly: folding it into conv1 would be wrong
/// at the zero-padded border, where PyTorch pads bn1's output, not its input.
struct Block: Sendable {
    let bn1Scale: [Float]
    let bn1Shift: [Float]
    let conv1: FoldedConv
    let prelu: [Float]
    let conv2: FoldedConv
    let downsample: FoldedConv?
}
