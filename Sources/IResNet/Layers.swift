import Tensor

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

/// A convolution with the BatchNorm after it folded in: `W'[co] = W[co]·scale[co]`,
/// `bias[co] = shift[co]`. Exact: the BatchNorm acts on the conv's output, after padding.
struct FoldedConv: Sendable {
    let inChannels, outChannels, kernel, stride, padding: Int
    /// `[Cout, Cin·k·k]`.
    let weights: [Float]
    let bias: [Float]

    init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, weights w: [Float], batchNorm: BatchNorm) {
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
        weights = folded
        bias = t.map { Float($0) }
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
