/// The checkpoint keys of an iresnet, verbatim as PyTorch names them (after the wrapper
/// prefix), with their shapes and roles. This table is the single place names are mapped.
public struct WeightMap: Sendable {
    /// What a parameter is, for initialisation and folding.
    public enum Role: Sendable, Equatable {
        case convWeight, prelu, bnWeight, bnBias, bnMean, bnVar, fcWeight, fcBias
    }

    public struct Parameter: Sendable, Equatable {
        /// The key without prefix, e.g. "layer2.0.downsample.1.running_var".
        public var key: String
        public var shape: [Int]
        public var role: Role
    }

    /// Wrapper prefixes MagFace checkpoints use, tried in this order; "" last.
    public static let prefixes = ["features.module.", "module.features.", "module.", ""]

    /// All parameters in `model.state_dict()` order, without `num_batches_tracked`.
    public let parameters: [Parameter]

    public init(_ c: IResNetConfig) {
        var p: [Parameter] = []
        func bn(_ name: String, _ n: Int) {
            p.append(.init(key: "\(name).weight", shape: [n], role: .bnWeight))
            p.append(.init(key: "\(name).bias", shape: [n], role: .bnBias))
            p.append(.init(key: "\(name).running_mean", shape: [n], role: .bnMean))
            p.append(.init(key: "\(name).running_var", shape: [n], role: .bnVar))
        }
        let w = c.widths
        p.append(.init(key: "conv1.weight", shape: [w[0], 3, 3, 3], role: .convWeight))
        bn("bn1", w[0])
        p.append(.init(key: "prelu.weight", shape: [w[0]], role: .prelu))
        var inplanes = w[0]
        for s in 0..<4 {
            let planes = w[s]
            for b in 0..<c.blocks[s] {
                let cin = b == 0 ? inplanes : planes
                let n = "layer\(s + 1).\(b)"
                bn("\(n).bn1", cin)
                p.append(.init(key: "\(n).conv1.weight", shape: [planes, cin, 3, 3], role: .convWeight))
                bn("\(n).bn2", planes)
                p.append(.init(key: "\(n).prelu.weight", shape: [planes], role: .prelu))
                p.append(.init(key: "\(n).conv2.weight", shape: [planes, planes, 3, 3], role: .convWeight))
                bn("\(n).bn3", planes)
                if b == 0 {
                    p.append(.init(key: "\(n).downsample.0.weight", shape: [planes, cin, 1, 1], role: .convWeight))
                    bn("\(n).downsample.1", planes)
                }
            }
            inplanes = planes
        }
        bn("bn2", w[3])
        p.append(.init(key: "fc.weight", shape: [c.embeddingSize, c.fcInputs], role: .fcWeight))
        p.append(.init(key: "fc.bias", shape: [c.embeddingSize], role: .fcBias))
        bn("features", c.embeddingSize)
        parameters = p
    }

    /// The wrapper prefix of a state dict: the first of `prefixes` under which `conv1.weight`
    /// exists.
    public static func prefix(of keys: some Collection<String>) -> String? {
        let set = Set(keys)
        return prefixes.first { set.contains("\($0)conv1.weight") }
    }

    /// Reads the architecture off a state dict's keys and shapes (keys without prefix).
    ///
    /// - Throws: `IResNetError.cannotDetectArchitecture` when a stage or the fc is missing.
    public static func detect(shapes: [String: [Int]]) throws -> IResNetConfig {
        var blocks = [0, 0, 0, 0], widths = [0, 0, 0, 0]
        for key in shapes.keys where key.hasPrefix("layer") {
            let parts = key.split(separator: ".")
            guard parts.count >= 3, let s = Int(parts[0].dropFirst(5)), (1...4).contains(s), let b = Int(parts[1]),
                  (0..<1000).contains(b) else { continue }
            blocks[s - 1] = max(blocks[s - 1], b + 1)
        }
        for s in 0..<4 {
            guard blocks[s] > 0, let w = shapes["layer\(s + 1).0.conv1.weight"]?.first, w >= 1 else {
                throw IResNetError.cannotDetectArchitecture(reason: "no weights for stage layer\(s + 1) (layer\(s + 1).0.conv1.weight)")
            }
            widths[s] = w
        }
        guard let fc = shapes["fc.weight"], fc.count == 2, fc[0] >= 1 else {
            throw IResNetError.cannotDetectArchitecture(reason: "no 2-D fc.weight")
        }
        return IResNetConfig(blocks: blocks, widths: widths, embeddingSize: fc[0])
    }
}
