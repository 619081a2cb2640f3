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
        // With flip fusion, image i and its mirror are images 2i and 2i+1 of the batch.
        return batch.withUnsafeBufferPointer {
            preprocessing.flip ? network.embedFlipFused($0, count: count) : network.embed($0, count: count)
        }
    }
}
