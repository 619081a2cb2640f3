import Checkpoint
import Foundation
import Synchronization
import Tensor
import Base

/// A MagFace iresnet ready for inference: BatchNorms folded, weights in GEMM layout.
///
/// Immutable after init (but for a pool of work buffers) and safe to share across threads; each
/// concurrent `embed` call gets its own buffers. The arithmetic runs on `Parallel.threadCount` threads (`BLAS.setThreadCount`),
/// each calling single-threaded OpenBLAS.
public final class IResNet: Sendable {
    /// The architecture.
    public let config: IResNetConfig
    /// SHA-256 (hex) of the backbone weights as used: for each parameter in `WeightMap` order
    /// (unprefixed key, no `num_batches_tracked`), the key's UTF-8 bytes and a 0 byte, each
    /// dimension as little-endian Int64, then the values as little-endian float32 (after any
    /// float16/bfloat16 conversion, before folding). Independent of file format and prefix.
    public let fingerprint: String
    /// Whether the weights are random (`IResNet.random`, or a checkpoint marked
    /// `magfleet.random_weights` by `magfleet model random`): embeddings mean nothing.
    public let isRandom: Bool
    /// Learnable parameters (conv, PReLU, BN affine, fc), as PyTorch's `model.parameters()`.
    public let parameterCount: Int
    /// How the convolutions are computed (`.fast`: blocked layout, Winograd where it pays;
    /// `.exact`: im2col). A network whose widths are not multiples of 8 always runs `.exact`.
    public let mode: ConvolutionMode
    /// The Winograd GEMMs' number format (`.bf16` only in `.fast` mode, on AVX512_BF16 CPUs).
    public let precision: Precision

    let stem: FoldedConv
    let stemPReLU: [Float]
    let blocks: [Block]
    /// fc with bn2 (before it) and features (BatchNorm1d, after it) folded in: `[dim, C·7·7]`
    /// (PanelGEMM panels in the fast path where it has a kernel).
    let fc: DenseLayer
    /// Work buffers of finished `embed` calls, reused by the next ones (one set per concurrent
    /// caller; up to 2 x 16 MiB of transformed tiles plus the column tiles).
    let scratchPool = Mutex<[Scratch]>([])

    /// Loads a PyTorch checkpoint (zip or legacy; MagFace's `{'state_dict': …}` or a bare state
    /// dict; prefixes `features.module.`, `module.features.` or none). Only the backbone's
    /// tensors are read; everything else in the file (MagLinear, optimizer state) is skipped.
    ///
    /// - Parameters:
    ///   - checkpoint: the `.pth` file.
    ///   - architecture: the expected architecture, or nil to read it off the keys.
    ///   - mode: `.fast` (default) or `.exact` convolutions.
    ///   - precision: `.f32` (default) or `.bf16` Winograd GEMMs.
    /// - Throws: `CheckpointError` for an unreadable file; `IResNetError` for a missing, extra
    ///   or mis-shaped key, an architecture other than `architecture`, or a precision this CPU
    ///   or mode cannot run.
    public convenience init(checkpoint: URL, architecture: IResNetConfig? = nil, mode: ConvolutionMode = .fast,
                            precision: Precision = .f32) throws {
        let file = try Checkpoint(contentsOf: checkpoint)
        try self.init(checkpoint: file, architecture: architecture, mode: mode, precision: precision)
    }

    /// Builds the network from an opened checkpoint; see `init(checkpoint:architecture:)`.
    public convenience init(checkpoint file: Checkpoint, architecture: IResNetConfig? = nil,
                            mode: ConvolutionMode = .fast, precision: Precision = .f32) throws {
        let mapping = try CheckpointMapping(file, architecture: architecture)
        try self.init(config: mapping.config, isRandom: file.metadata["magfleet.random_weights"] == "true", mode: mode,
                      precision: precision) { p in
            let key = mapping.prefix + p.key
            return try file.floats(file.tensors[key]!, name: key)
        }
    }

    /// A network with random weights drawn from `seed` (same seed, same weights, same
    /// fingerprint). BatchNorm statistics are random too, scaled so activations stay finite
    /// through iresnet100: for benchmarks and demos, never for real features.
    ///
    /// - Throws: `IResNetError` for a precision this CPU or mode cannot run (the source never
    ///   throws).
    public static func random(config: IResNetConfig, seed: UInt64, mode: ConvolutionMode = .fast,
                              precision: Precision) throws -> IResNet {
        var rng = SeededGenerator(seed: seed)
        return try IResNet(config: config, isRandom: true, mode: mode, precision: precision,
                           source: { RandomWeights.values(for: $0, config: config, rng: &rng) })
    }

    /// `random(config:seed:mode:precision:)` in float32, which every supported CPU runs.
    public static func random(config: IResNetConfig, seed: UInt64, mode: ConvolutionMode = .fast) -> IResNet {
        do {
            return try random(config: config, seed: seed, mode: mode, precision: .f32)
        } catch {
            preconditionFailure("\(error)")
        }
    }

    /// The raw (unfolded) random weights of `random(config:seed:)`, in `WeightMap` order, for
    /// writing a checkpoint.
    public static func randomWeights(config: IResNetConfig, seed: UInt64) -> [(WeightMap.Parameter, [Float])] {
        var rng = SeededGenerator(seed: seed)
        return WeightMap(config).parameters.map { ($0, RandomWeights.values(for: $0, config: config, rng: &rng)) }
    }

    /// Builds the network, asking `source` for every parameter in `WeightMap` order.
    init(config: IResNetConfig, isRandom: Bool, mode: ConvolutionMode, precision: Precision = .f32,
         source: (WeightMap.Parameter) throws -> [Float]) throws {
        // Before any kernel runs: they are compiled for extensions an old CPU may lack.
        guard HostCPU.missing.isEmpty else { throw IResNetError.unsupportedCPU(missing: HostCPU.missing) }
        if precision == .bf16 {
            guard HostCPU.hasAVX512BF16 else {
                throw IResNetError.unsupportedPrecision(reason: "this CPU (\(HostCPU.modelName)) lacks AVX512_BF16")
            }
            guard mode == .fast else { throw IResNetError.unsupportedPrecision(reason: "the exact path is float32 only") }
        }
        Parallel.keepLargeAllocationsInHeap()
        self.config = config
        self.isRandom = isRandom
        // The fast path's blocked layout needs channel counts that are multiples of 8.
        let mode = mode == .fast && config.widths.allSatisfy(Blocked.supports(channels:)) ? ConvolutionMode.fast : .exact
        self.mode = mode
        guard precision == .f32 || mode == .fast else {
            throw IResNetError.unsupportedPrecision(reason: "widths \(config.widths) are not multiples of 8, so the network runs the exact path")
        }
        self.precision = precision
        let blocked = mode == .fast
        var hasher = WeightFingerprint()
        var learnable = 0
        let parameters = WeightMap(config).parameters
        var index = 0
        // Hands out parameters strictly in table order, hashing each as it is read.
        func take(_ key: String) throws -> [Float] {
            let p = parameters[index]
            precondition(p.key == key, "weights requested out of order: \(key), table has \(p.key)")
            index += 1
            let values = try source(p)
            precondition(values.count == p.shape.reduce(1, *), "\(key): wrong value count")
            hasher.add(p, values)
            if p.role != .bnMean && p.role != .bnVar { learnable += values.count }
            return values
        }
        func bn(_ name: String) throws -> BatchNorm {
            BatchNorm(weight: try take("\(name).weight"), bias: try take("\(name).bias"),
                      mean: try take("\(name).running_mean"), variance: try take("\(name).running_var"))
        }
        let w = config.widths
        let stemWeights = try take("conv1.weight")
        // The fast path runs the stem in the blocked layout too: the image's 3 channels become
        // one block of 8 with 5 zero lanes (`Blocked.fromNCHW`), and the weights get 5 zero
        // input channels to match, so every product with a padding lane is an exact 0.
        let stemChannels = blocked ? Blocked.width : 3, taps = 9
        var stemFolded = stemWeights
        if blocked {
            stemFolded = [Float](repeating: 0, count: w[0] * stemChannels * taps)
            for co in 0..<w[0] {
                for ci in 0..<3 {
                    for t in 0..<taps { stemFolded[(co * stemChannels + ci) * taps + t] = stemWeights[(co * 3 + ci) * taps + t] }
                }
            }
        }
        stem = FoldedConv(inChannels: stemChannels, outChannels: w[0], kernel: 3, stride: 1, padding: 1,
                          weights: stemFolded, batchNorm: try bn("bn1"), mapSize: IResNetConfig.inputSize, blocked: blocked)
        stemPReLU = try take("prelu.weight")
        var blocks: [Block] = []
        var inplanes = w[0]
        var size = IResNetConfig.inputSize  // the height and width a block reads
        for s in 0..<4 {
            let planes = w[s]
            for b in 0..<config.blocks[s] {
                let n = "layer\(s + 1).\(b)", cin = b == 0 ? inplanes : planes, stride = b == 0 ? 2 : 1
                let bn1 = try bn("\(n).bn1")
                let c1 = try take("\(n).conv1.weight")
                let conv1 = FoldedConv(inChannels: cin, outChannels: planes, kernel: 3, stride: 1, padding: 1,
                                       weights: c1, batchNorm: try bn("\(n).bn2"), mapSize: size, blocked: blocked, precision: precision)
                let prelu = try take("\(n).prelu.weight")
                let c2 = try take("\(n).conv2.weight")
                let conv2 = FoldedConv(inChannels: planes, outChannels: planes, kernel: 3, stride: stride, padding: 1,
                                       weights: c2, batchNorm: try bn("\(n).bn3"), mapSize: size, blocked: blocked, precision: precision)
                var downsample: FoldedConv?
                if b == 0 {
                    let d = try take("\(n).downsample.0.weight")
                    downsample = FoldedConv(inChannels: cin, outChannels: planes, kernel: 1, stride: stride, padding: 0,
                                            weights: d, batchNorm: try bn("\(n).downsample.1"), mapSize: size, blocked: blocked)
                }
                let (scale, shift) = bn1.scaleShift
                blocks.append(Block(bn1Scale: scale, bn1Shift: shift, conv1: conv1, prelu: prelu, conv2: conv2, downsample: downsample))
                size = conv2.geometry(batch: 1, height: size, width: size).outHeight
            }
            inplanes = planes
        }
        self.blocks = blocks
        let bn2 = try bn("bn2")
        let fcW = try take("fc.weight"), fcB = try take("fc.bias")
        let features = try bn("features")
        let (fcWeight, fcBias) = Self.foldHead(fcW, fcB, before: bn2, after: features, config: config)
        fc = DenseLayer(weights: fcWeight, bias: fcBias, outputs: config.embeddingSize, inputs: config.fcInputs, panels: blocked)
        precondition(index == parameters.count)
        parameterCount = learnable
        fingerprint = hasher.finalize()
    }

    /// fc(bn2(x)) then BatchNorm1d, as one affine map: exact, bn2 meets no padding.
    static func foldHead(_ w: [Float], _ b: [Float], before: BatchNorm, after: BatchNorm, config: IResNetConfig)
        -> ([Float], [Float])
    {
        let (s2, t2) = before.scaleShiftDouble
        let (sf, tf) = after.scaleShiftDouble
        let k = config.fcInputs, plane = IResNetConfig.finalSize * IResNetConfig.finalSize
        var weight = [Float](repeating: 0, count: w.count)
        var bias = [Float](repeating: 0, count: b.count)
        for o in 0..<config.embeddingSize {
            var acc = Double(b[o])
            for j in 0..<k {
                let c = j / plane
                let wj = Double(w[o * k + j])
                acc += wj * t2[c]
                weight[o * k + j] = Float(wj * s2[c] * sf[o])
            }
            bias[o] = Float(acc * sf[o] + tf[o])
        }
        return (weight, bias)
    }
}
