import Foundation
import IResNet

/// The real `FaceEmbedder`: a MagFace iresnet (BatchNorms folded, OpenBLAS GEMMs).
/// Input NCHW float32 `[N, 3, 112, 112]` (what `ImagingLoader` writes, flip fusion off);
/// output the raw, unnormalised embeddings (their L2 norm is MagFace's quality score).
public final class IResNetEmbedder: FaceEmbedder {
    public let network: IResNet
    public let model: ModelInfo
    public var inputLength: Int { 3 * IResNetConfig.inputSize * IResNetConfig.inputSize }

    /// - Parameters:
    ///   - network: the loaded network.
    ///   - preprocessing: the loader's preprocessing name (`ImagingLoader.preprocessingName`).
    public init(network: IResNet, preprocessing: String) {
        self.network = network
        model = ModelInfo(
            fingerprint: "sha256:" + network.fingerprint + (network.isRandom ? " (RANDOM WEIGHTS)" : ""),
            architecture: network.config.presetName ?? network.config.description,
            dim: network.config.embeddingSize,
            preprocessing: preprocessing)
    }

    public func embed(_ batch: [Float], count: Int) throws -> [Float] {
        guard batch.count == count * inputLength else {
            throw ClusterError.embedder("batch holds \(batch.count) floats, expected \(count) x \(inputLength)")
        }
        return batch.withUnsafeBufferPointer { network.embed($0, count: count) }
    }
}
