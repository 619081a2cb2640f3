import Evaluation
import FeatureStore
import Foundation

/// `head.h5`: a trained classification head and how it was trained, stored as an `ArrayFile`
/// (docs/metrics.md, "Head weights file"). The datasets are in PyTorch's layout, so that
/// `torch.nn.Linear(D, 256).weight` loads `fc1/weight` as it is.
///
/// | name           | kind                  | holds                                     |
/// |----------------|-----------------------|-------------------------------------------|
/// | `fc1/weight`   | float32 [H, D]        | `HeadWeights.w1`                          |
/// | `fc1/bias`     | float32 [H]           | `HeadWeights.b1`                          |
/// | `fc2/weight`   | float32 [C, H]        | `HeadWeights.w2`                          |
/// | `fc2/bias`     | float32 [C]           | `HeadWeights.b2`                          |
/// | `label_names`  | UTF-8 strings [C]     | class index -> identity                   |
/// | attributes     | `format` "magfleet-head", `format_version` 1, `input_dim` D, `hidden` H, `classes` C, `dropout`, `seed`, `epochs`, `best_epoch`, `source`, `model_fingerprint`, `magfleet_version` |
struct HeadFile: Equatable {
    var weights: HeadWeights
    /// The dropout probability it was trained with (a float64 attribute holding the float32's
    /// shortest decimal, 0.3 rather than 0.30000001192092896; it reads back to the same float32).
    var dropout: Float
    /// The training seed, stored as int64 with the same bits (seeds >= 2^63 read back negative in h5py).
    var seed: UInt64
    var epochs: Int
    /// The epoch (1-based) whose weights these are: chosen by `HeadCheckpointRule` (best
    /// validation top-1, ties by the lower validation loss).
    var bestEpoch: Int
    /// The store (or synthetic table) it was trained on.
    var source: String
    /// The fingerprint of the model whose embeddings it was trained on (the store's
    /// `model_fingerprint`); nil when the input recorded none (a features.list, a synthetic
    /// table, an import without --fingerprint) or for a head written before it was recorded.
    var modelFingerprint: String?

    enum Name {
        static let fc1Weight = "fc1/weight", fc1Bias = "fc1/bias", fc2Weight = "fc2/weight", fc2Bias = "fc2/bias"
        static let labelNames = "label_names"
        static let format = "format", formatVersion = "format_version", inputDimension = "input_dim", hidden = "hidden"
        static let classes = "classes", dropout = "dropout", seed = "seed", epochs = "epochs", bestEpoch = "best_epoch"
        static let source = "source", toolVersion = "magfleet_version", modelFingerprint = "model_fingerprint"
    }

    /// The file's contents.
    var arrayFile: ArrayFile {
        let w = weights, d = w.inputDimension, h = w.hidden, c = w.classes
        var attributes: [String: ArrayFile.Attribute] = [
            Name.format: .string(HeadWeights.formatName), Name.formatVersion: .integer(Int64(HeadWeights.formatVersion)),
            Name.inputDimension: .integer(Int64(d)), Name.hidden: .integer(Int64(h)), Name.classes: .integer(Int64(c)),
            Name.dropout: .real(Double(dropout.description) ?? Double(dropout)), Name.seed: .integer(Int64(bitPattern: seed)),
            Name.epochs: .integer(Int64(epochs)), Name.bestEpoch: .integer(Int64(bestEpoch)),
            Name.source: .string(source), Name.toolVersion: .string(magfleetVersion),
        ]
        if let modelFingerprint { attributes[Name.modelFingerprint] = .string(modelFingerprint) }
        return ArrayFile(
            arrays: [
                Name.fc1Weight: .init(shape: [h, d], values: w.w1), Name.fc1Bias: .init(shape: [h], values: w.b1),
                Name.fc2Weight: .init(shape: [c, h], values: w.w2), Name.fc2Bias: .init(shape: [c], values: w.b2),
            ],
            strings: [Name.labelNames: w.labelNames],
            attributes: attributes)
    }

    /// Writes `url` atomically (temporary name, then rename).
    func write(to url: URL) throws { try arrayFile.write(to: url) }

    /// Reads and checks a head file.
    ///
    /// - Throws: `FeatureStoreError` when the file is missing, not HDF5, truncated or corrupt;
    ///   `EvaluationError.badFile` when it is HDF5 but not a magfleet head (another format, a
    ///   newer version, a missing dataset or attribute, shapes that disagree).
    static func read(from url: URL) throws -> HeadFile {
        // The attributes first: another kind of file (a feature store given as --weights) is
        // named as such, not reported by the first dataset that is not a float array.
        let attributes = try ArrayFile.readAttributes(from: url)
        if case .string(StoreFormat.marker)? = attributes[StoreFormat.markerAttribute] {
            throw EvaluationError.badFile(path: url.path, reason: """
                not a head file: it is a magfleet feature store. A head file is the head.h5 that \
                `magfleet reduce STORE --out DIR --head` writes into DIR
                """)
        }
        guard case .string(HeadWeights.formatName)? = attributes[Name.format] else {
            throw EvaluationError.badFile(path: url.path, reason: """
                not a magfleet head file: its `format` attribute is \(attributes[Name.format]?.description ?? "absent"), \
                expected "\(HeadWeights.formatName)" (the head.h5 that `magfleet reduce --head` writes)
                """)
        }
        return try HeadFile(try ArrayFile.read(from: url), path: url.path)
    }

    init(weights: HeadWeights, dropout: Float, seed: UInt64, epochs: Int, bestEpoch: Int, source: String, modelFingerprint: String? = nil) {
        self.weights = weights
        self.dropout = dropout
        self.seed = seed
        self.epochs = epochs
        self.bestEpoch = bestEpoch
        self.source = source
        self.modelFingerprint = modelFingerprint
    }

    init(_ file: ArrayFile, path: String) throws {
        func bad(_ reason: String) -> EvaluationError { .badFile(path: path, reason: "not a magfleet head file: \(reason)") }
        guard case .string(let format)? = file.attributes[Name.format], format == HeadWeights.formatName else {
            throw bad("its `format` attribute is \(file.attributes[Name.format]?.description ?? "absent"), expected \"\(HeadWeights.formatName)\"")
        }
        func integer(_ name: String) throws -> Int64 {
            guard case .integer(let value)? = file.attributes[name] else { throw bad("attribute `\(name)` is \(file.attributes[name]?.description ?? "absent"), expected an integer") }
            return value
        }
        let version = try integer(Name.formatVersion)
        guard version == HeadWeights.formatVersion else {
            throw EvaluationError.badFile(path: path, reason: "head file format version \(version); this magfleet reads version \(HeadWeights.formatVersion)")
        }
        let d = Int(try integer(Name.inputDimension)), h = Int(try integer(Name.hidden)), c = Int(try integer(Name.classes))
        guard let labelNames = file.strings[Name.labelNames] else { throw bad("dataset `\(Name.labelNames)` is missing") }
        guard labelNames.count == c else { throw bad("`\(Name.labelNames)` has \(labelNames.count) names, `classes` is \(c)") }
        func array(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard let a = file.arrays[name] else { throw bad("float dataset `\(name)` is missing") }
            guard a.shape == shape else { throw bad("`\(name)` has shape \(a.shape), expected \(shape)") }
            return a.values
        }
        let w1 = try array(Name.fc1Weight, [h, d]), b1 = try array(Name.fc1Bias, [h])
        let w2 = try array(Name.fc2Weight, [c, h]), b2 = try array(Name.fc2Bias, [c])
        weights = try HeadWeights(inputDimension: d, hidden: h, labelNames: labelNames, w1: w1, b1: b1, w2: w2, b2: b2)
        guard case .real(let p)? = file.attributes[Name.dropout] else { throw bad("attribute `\(Name.dropout)` is missing or not a float") }
        guard case .string(let s)? = file.attributes[Name.source] else { throw bad("attribute `\(Name.source)` is missing or not a string") }
        dropout = Float(p)
        seed = UInt64(bitPattern: try integer(Name.seed))
        epochs = Int(try integer(Name.epochs))
        bestEpoch = Int(try integer(Name.bestEpoch))
        source = s
        if case .string(let f)? = file.attributes[Name.modelFingerprint] { modelFingerprint = f } else { modelFingerprint = nil }
    }
}
