import Foundation

/// The on-disk format, version 1 (docs/feature-store.md). Names here are the contract with
/// h5py users and other tools; change them only with a new `version`.
public enum StoreFormat {
    /// The format version this build writes and reads.
    public static let version: Int64 = 1
    /// The value of the root attribute `magfleet_format` that marks a magfleet file.
    public static let marker = "magfleet-feature-store"
    /// The root attribute that holds `marker`.
    public static let markerAttribute = Attribute.format

    enum Dataset {
        static let embeddings = "embeddings"
        static let norms = "norms"
        static let paths = "paths"
        static let labels = "labels"
        static let labelNames = "label_names"
        static let status = "status"
        static let failureReasons = "failure_reasons"
        static let indices = "indices"
    }

    enum Attribute {
        static let format = "magfleet_format"
        static let version = "format_version"
        static let kind = "kind"
        static let complete = "complete"
        static let fingerprint = "model_fingerprint"
        static let architecture = "architecture"
        static let dim = "embedding_dim"
        static let preset = "preprocessing_preset"
        static let flip = "flip"
        static let imageListSHA256 = "image_list_sha256"
        static let toolVersion = "tool_version"
        static let createdAt = "created_at"
        static let randomWeights = "random_weights"
        static let count = "count"
        static let okCount = "ok_count"
        static let failedCount = "failed_count"
        static let totalRows = "total_rows"
    }

    /// /status codes.
    static let statusOK: UInt8 = 0
    static let statusFailed: UInt8 = 1
}

/// Whether a file is a whole store or one shard of a run.
public enum StoreKind: Equatable, Sendable, CustomStringConvertible {
    case store
    /// A shard of a run over `totalRows` images; its rows carry their global index.
    case shard(totalRows: Int)

    var attribute: String {
        switch self {
        case .store: "store"
        case .shard: "shard"
        }
    }

    public var description: String { attribute }
}

/// Where a store's embeddings came from. Every field is a root attribute of the file.
public struct StoreProvenance: Equatable, Sendable, Codable {
    /// The SHA-256 (hex) the engine computes over the model weights.
    public var modelFingerprint: String
    /// e.g. "iresnet100".
    public var architecture: String
    public var embeddingDim: Int
    /// The preprocessing preset's name (e.g. "magface-112").
    public var preprocessingPreset: String
    /// Whether the horizontally flipped image's embedding was added.
    public var flip: Bool
    /// SHA-256 (hex) of the image list file's bytes.
    public var imageListSHA256: String
    public var toolVersion: String
    /// ISO 8601, UTC.
    public var createdAt: String
    /// True when the model ran with random weights (smoke runs): never report its numbers.
    public var randomWeights: Bool
    /// Names of label ids 0..<labelNames.count (the /label_names dataset).
    public var labelNames: [String]

    public init(
        modelFingerprint: String, architecture: String, embeddingDim: Int, preprocessingPreset: String,
        flip: Bool, imageListSHA256: String, toolVersion: String, createdAt: String = StoreProvenance.now(),
        randomWeights: Bool, labelNames: [String]
    ) {
        self.modelFingerprint = modelFingerprint
        self.architecture = architecture
        self.embeddingDim = embeddingDim
        self.preprocessingPreset = preprocessingPreset
        self.flip = flip
        self.imageListSHA256 = imageListSHA256
        self.toolVersion = toolVersion
        self.createdAt = createdAt
        self.randomWeights = randomWeights
        self.labelNames = labelNames
    }

    /// Refuses a model that did not make this store: distances between two models' features
    /// mean nothing. `model` names it in the message.
    public func checkModel(fingerprint: String, model: String) throws(FeatureStoreError) {
        guard fingerprint == modelFingerprint else {
            throw .badQuery("\(model) (fingerprint \(fingerprint)) is not the model that made this store (\(modelFingerprint))")
        }
    }

    /// The current time as ISO 8601 UTC with seconds.
    public static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }
}

/// A row's outcome.
public enum RowStatus: Equatable, Sendable {
    case ok
    case failed(reason: String)

    public var isOK: Bool { self == .ok }
}
