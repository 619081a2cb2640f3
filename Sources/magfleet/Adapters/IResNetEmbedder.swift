import Foundation
import IResNet
import Imaging
import ClusterCore
import FeatureStore

/// The real `FaceEmbedder`: a MagFace / insightface iresnet (BatchNorms folded).
/// Input NCHW float32: per image `[3, 112, 112]` as `ImagingLoader` writes it, followed by the
/// mirrored image when flip fusion is on. Output: the raw, unnormalised embeddings (their L2
/// norm is MagFace's quality score); with flip fusion, the sum of the two embeddings.
public final class IResNetEmbedder: FaceEmbedder, IResNetIdentified {
    public let network: IResNet
    public var identity: IResNet.Identity { network.identity }
    public var precision: Precision { network.precision }
    public let model: ModelInfo
    public let preprocessing: Preprocessing
    public var inputLength: Int { Preprocessing.floatsPerImage * (preprocessing.flip ? 2 : 1) }

    public init(network: IResNet, preprocessing: Preprocessing) {
        self.network = network
        self.preprocessing = preprocessing
        model = Self.modelInfo(network.identity, precision: network.precision, preprocessing: preprocessing)
    }

    /// The ModelInfo fingerprint of a network (Protocols/README.md, section 7.1).
    public static func fingerprint(of network: IResNet) -> String {
        fingerprint(network.fingerprint, precision: network.precision, isRandom: network.isRandom)
    }

    /// `sha256:`, the weights' digest with its precision (`weightsFingerprint`) and the
    /// random-weights mark.
    static func fingerprint(_ weights: String, precision: Precision, isRandom: Bool) -> String {
        "sha256:" + weightsFingerprint(weights, precision: precision) + (isRandom ? " (RANDOM WEIGHTS)" : "")
    }

    /// What a store records as its model fingerprint: the weights' digest, then `+bf16` for
    /// bf16 Winograd GEMMs (nothing for f32), so that no store or merge mixes the two.
    public static func weightsFingerprint(_ weights: String, precision: Precision) -> String {
        weights + (precision == .f32 ? "" : "+" + precision.rawValue)
    }

    /// The precision a store's recorded model fingerprint names (`weightsFingerprint`).
    public static func precision(ofRecorded fingerprint: String) -> Precision {
        Precision.allCases.first { $0 != .f32 && fingerprint.hasSuffix("+" + $0.rawValue) } ?? .f32
    }

    /// Loads `model` to embed queries against a store (`query --image`, `serve`): in the
    /// precision the store records, so a query is embedded as the rows were (`exact` applies
    /// to f32 stores only); refuses a model that did not make the store.
    static func queryNetwork(model: String, for store: StoreProvenance, exact: Bool = false) throws -> IResNet {
        let precision = precision(ofRecorded: store.modelFingerprint)
        let network = try IResNet(checkpoint: URL(fileURLWithPath: model), mode: exact && precision == .f32 ? .exact : .fast,
                                  precision: precision)
        try store.checkModel(fingerprint: weightsFingerprint(network.fingerprint, precision: precision), model: model)
        return network
    }

    /// The ModelInfo of a network with this identity and precision, as a worker announces it.
    static func modelInfo(_ identity: IResNet.Identity, precision: Precision, preprocessing: Preprocessing) -> ModelInfo {
        ModelInfo(
            fingerprint: fingerprint(identity.fingerprint, precision: precision, isRandom: identity.isRandom),
            architecture: identity.config.presetName ?? identity.config.description,
            dim: identity.config.embeddingSize,
            preprocessing: preprocessing.preset.rawValue,
            flip: preprocessing.flip)
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

/// What the store's provenance needs of an iresnet embedder: the weights' identity and the
/// precision it computes in.
public protocol IResNetIdentified {
    var identity: IResNet.Identity { get }
    var precision: Precision { get }
}

/// The coordinator's stand-in for an iresnet: the model a worker must announce, read off the
/// checkpoint by `IResNet.identity` (the file is validated and hashed, the network is not
/// built). It never embeds: the coordinator only compares and records models.
public final class IResNetModelCard: FaceEmbedder, IResNetIdentified {
    public let identity: IResNet.Identity
    public let precision: Precision
    public let model: ModelInfo
    public let inputLength: Int

    public init(identity: IResNet.Identity, precision: Precision, preprocessing: Preprocessing) {
        self.identity = identity
        self.precision = precision
        model = IResNetEmbedder.modelInfo(identity, precision: precision, preprocessing: preprocessing)
        inputLength = Preprocessing.floatsPerImage * (preprocessing.flip ? 2 : 1)
    }

    public func embed(_ batch: [Float], count: Int) throws -> [Float] {
        throw EmbedderError("the coordinator's model card does not embed")
    }
}

extension EmbedderOptions {
    /// The embedder as the coordinator needs it: the model's identity only. For an iresnet
    /// checkpoint this reads and hashes its tensors without building the network (no folding,
    /// no Winograd weights): the same fingerprint as `make()`'s, at a fraction of the memory.
    func makeModelCard() throws -> FaceEmbedder {
        guard embedder == "iresnet" else { return try make().0 }
        do {
            let identity = try IResNet.identity(checkpoint: URL(fileURLWithPath: model ?? ""))
            return IResNetModelCard(identity: identity, precision: precision, preprocessing: Preprocessing(preset: preset, flip: flip))
        } catch {
            throw CommandFailure("cannot load --model \(model ?? ""): \(error)")
        }
    }
}
