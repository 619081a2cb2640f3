/// The shape of an iresnet (MagFace's `models/iresnet.py`, insightface's iresnet): blocks per
/// stage, stage widths and embedding size. Input is always `3x112x112`; four stride-2 stages
/// bring it to `7x7` before the fc layer.
public struct IResNetConfig: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Basic blocks in each of the four stages.
    public var blocks: [Int]
    /// Channels of the four stages; the stem has `widths[0]` channels.
    public var widths: [Int]
    /// Embedding size (the fc layer's output).
    public var embeddingSize: Int

    /// Input height and width.
    public static let inputSize = 112
    /// Spatial size of the last stage (112 / 2⁴).
    public static let finalSize = 7
    /// BatchNorm epsilon used throughout the network.
    public static let epsilon = 2e-5

    public init(blocks: [Int], widths: [Int] = [64, 128, 256, 512], embeddingSize: Int = 512) {
        precondition(blocks.count == 4 && blocks.allSatisfy { $0 >= 1 }, "an iresnet has four stages of at least one block")
        precondition(widths.count == 4 && widths.allSatisfy { $0 >= 1 } && embeddingSize >= 1)
        self.blocks = blocks
        self.widths = widths
        self.embeddingSize = embeddingSize
    }

    public static let iresnet18 = IResNetConfig(blocks: [2, 2, 2, 2])
    public static let iresnet34 = IResNetConfig(blocks: [3, 4, 6, 3])
    public static let iresnet50 = IResNetConfig(blocks: [3, 4, 14, 3])
    public static let iresnet100 = IResNetConfig(blocks: [3, 13, 30, 3])

    /// The presets by name.
    public static let presets: [(name: String, config: IResNetConfig)] = [
        ("iresnet18", .iresnet18), ("iresnet34", .iresnet34), ("iresnet50", .iresnet50), ("iresnet100", .iresnet100),
    ]

    /// The preset called `name` (e.g. "iresnet100"), or nil.
    public static func preset(named name: String) -> IResNetConfig? {
        presets.first { $0.name == name.lowercased() }?.config
    }

    /// The preset's name, or nil for a custom config.
    public var presetName: String? { Self.presets.first { $0.config == self }?.name }

    /// "iresnet100", or "iresnet[2,2,2,2] widths [8,16,32,64] dim 32" for a custom config.
    public var description: String {
        presetName ?? "iresnet\(blocks) widths \(widths) dim \(embeddingSize)"
    }

    /// Inputs to the fc layer: `widths[3] · 7 · 7`.
    public var fcInputs: Int { widths[3] * Self.finalSize * Self.finalSize }

    /// Floating-point operations per image (2 per multiply-add; convolutions and fc).
    public var flopsPerImage: Double {
        var total = 0.0
        var size = Self.inputSize
        total += 2 * Double(widths[0] * 27 * size * size)  // stem
        var inplanes = widths[0]
        for stage in 0..<4 {
            let planes = widths[stage]
            for b in 0..<blocks[stage] {
                let cin = b == 0 ? inplanes : planes
                total += 2 * Double(planes * cin * 9 * size * size)  // conv1, stride 1
                let out = b == 0 ? size / 2 : size
                total += 2 * Double(planes * planes * 9 * out * out)  // conv2
                if b == 0 { total += 2 * Double(planes * cin * out * out) }  // downsample
                if b == 0 { size = out }
            }
            inplanes = planes
        }
        total += 2 * Double(fcInputs * embeddingSize)
        return total
    }
}
