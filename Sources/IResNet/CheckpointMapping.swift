import Checkpoint

/// How a checkpoint's keys map onto an architecture, checked before any tensor is read.
public struct CheckpointMapping: Sendable {
    /// The wrapper prefix found ("features.module.", "module.features.", "module." or "").
    public let prefix: String
    /// The architecture read off (or confirmed against) the keys.
    public let config: IResNetConfig
    /// Keys outside the backbone, never read: `(key, shape)`, e.g. MagLinear's `fc.weight`.
    public let skipped: [(key: String, shape: [Int])]
    /// Backbone tensors used.
    public let used: Int

    /// Validates `file` against `architecture` (or the detected one).
    ///
    /// - Throws: `IResNetError` naming the first missing, extra or mis-shaped key, or the
    ///   architecture found when it differs from the one requested.
    public init(_ file: Checkpoint, architecture: IResNetConfig? = nil) throws {
        guard let prefix = WeightMap.prefix(of: file.keys) else {
            throw IResNetError.missingKey(key: "conv1.weight", expected: [architecture?.widths[0] ?? 64, 3, 3, 3])
        }
        self.prefix = prefix
        var shapes: [String: [Int]] = [:]
        var skipped: [(String, [Int])] = []
        for key in file.keys {
            let shape = file.tensors[key]!.shape
            if key.hasPrefix(prefix) {
                let bare = String(key.dropFirst(prefix.count))
                if !bare.hasSuffix("num_batches_tracked") { shapes[bare] = shape }
            } else {
                skipped.append((key, shape))
            }
        }
        self.skipped = skipped
        let config: IResNetConfig
        do {
            let found = try WeightMap.detect(shapes: shapes)
            if let architecture, architecture != found {
                throw IResNetError.architectureMismatch(requested: architecture.description, found: found.description)
            }
            config = found
        } catch let error as IResNetError {
            guard case .cannotDetectArchitecture = error, let architecture else { throw error }
            config = architecture  // the key checks below name what is missing
        }
        self.config = config
        let expected = WeightMap(config).parameters
        for p in expected {
            guard let actual = shapes[p.key] else { throw IResNetError.missingKey(key: prefix + p.key, expected: p.shape) }
            if actual != p.shape { throw IResNetError.shapeMismatch(key: prefix + p.key, expected: p.shape, actual: actual) }
        }
        let known = Set(expected.map(\.key))
        for key in file.keys where key.hasPrefix(prefix) {
            let bare = String(key.dropFirst(prefix.count))
            if !known.contains(bare) && !bare.hasSuffix("num_batches_tracked") {
                throw IResNetError.extraKey(key: key, shape: file.tensors[key]!.shape)
            }
        }
        used = expected.count
    }
}
