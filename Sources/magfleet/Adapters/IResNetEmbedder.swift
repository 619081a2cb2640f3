import Foundation
import IResNet
import Imaging
import ClusterCore

/// The real `FaceEmbedder`: a MagFace / insightface iresnet (BatchNorms folded).
/// Input NCHW float32: per image `[3, 112, 112]` as `ImagingLoader` writes it, followed by the
/// mirrored image when flip fusion is on. Output: the raw, unnormalised embeddings (their L2
/// norm is MagFace's quality score); with flip fusion, the sum of the two embeddings.
public final class IResNetEmbedder: FaceEmbedder {
    public let network: IResNet
    public let model: ModelInfo
    public let preprocessing: Preprocessing
    public var inputLength: Int { Preprocessing.floatsPerImage * (preprocessing.flip ? 2 : 1) }

    public init(network: IResNet, preprocessing: Preprocessing) {
        self.network = network
        self.preprocessing = preprocessing
        model = ModelInfo(
            fingerprint: Self.fingerprint(of: network),
            architecture: network.config.presetName ?? network.config.description,
            dim: network.config.embeddingSize,
            preprocessing: preprocessing.preset.rawValue,
            flip: preprocessing.flip)
    }

    /// The ModelInfo fingerprint of a network (Protocols/README.md, section 7.1).
    public static func fingerprint(of network: IResNet) -> String {
        "sha256:" + network.fingerprint + (network.isRandom ? " (RANDOM WEIGHTS)" : "")
    }

    public func embed(_ batch: [Float], count: Int) throws -> [Float] {
        guard batch.count == count * inputLength else {
            throw EmbedderError("batch holds \(batch.count) floats, expected \(count) x \(inputLength)")
        }
        guard preprocessing.flip else { return batch.withUnsafeBufferPointer { network.embed($0, count: count) } }
        // Image i and its mirror are images 2i and 2i+1 of the batch; fusion sums their embeddings.
        let both = batch.withUnsafeBufferPointer { network.embed($0, count: 2 * count) }
        let d = network.config.embeddingSize
        var out = [Float](repeating: 0, count: count * d)
        for i in 0..<count {
            for j in 0..<d { out[i * d + j] = both[2 * i * d + j] + both[(2 * i + 1) * d + j] }
        }
        return out
    }
}
