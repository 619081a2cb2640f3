import Checkpoint
import Crypto
import Foundation

/// The weights' SHA-256, computed as parameters are read (`IResNet.fingerprint`'s definition).
struct WeightFingerprint {
    private var hasher = SHA256()

    /// Adds one parameter: its unprefixed key in UTF-8 and a 0 byte, each dimension as
    /// little-endian Int64, then its values as little-endian float32.
    mutating func add(_ p: WeightMap.Parameter, _ values: [Float]) {
        hasher.update(data: Array(p.key.utf8) + [0])
        for d in p.shape { withUnsafeBytes(of: Int64(d).littleEndian) { hasher.update(bufferPointer: $0) } }
        values.withUnsafeBytes { hasher.update(bufferPointer: $0) }  // little-endian hosts only
    }

    /// The hex digest.
    func finalize() -> String { hasher.finalize().map { String(format: "%02x", $0) }.joined() }
}

extension IResNet {
    /// What identifies a checkpoint's network without building it.
    public struct Identity: Sendable, Equatable {
        /// The architecture read off (or checked against) the keys.
        public var config: IResNetConfig
        /// Equal to `IResNet(checkpoint:).fingerprint` of the same file.
        public var fingerprint: String
        /// The file is marked `magfleet.random_weights`.
        public var isRandom: Bool

        public init(config: IResNetConfig, fingerprint: String, isRandom: Bool) {
            self.config = config
            self.fingerprint = fingerprint
            self.isRandom = isRandom
        }
    }

    /// This network's identity: what `identity(checkpoint:)` gives for its file.
    public var identity: Identity { Identity(config: config, fingerprint: fingerprint, isRandom: isRandom) }

    /// The fingerprint, architecture and random-weights mark of a checkpoint, from its
    /// tensors alone: no folding, no Winograd transforms, one tensor in memory at a time (the
    /// coordinator needs only these). Validates the keys as `init(checkpoint:)` does.
    ///
    /// - Throws: `CheckpointError` for an unreadable file; `IResNetError` for a missing, extra
    ///   or mis-shaped key or an architecture other than `architecture`.
    public static func identity(checkpoint: URL, architecture: IResNetConfig? = nil) throws -> Identity {
        let file = try Checkpoint(contentsOf: checkpoint)
        let mapping = try CheckpointMapping(file, architecture: architecture)
        var fingerprint = WeightFingerprint()
        for p in WeightMap(mapping.config).parameters {
            let key = mapping.prefix + p.key
            fingerprint.add(p, try file.floats(file.tensors[key]!, name: key))
        }
        return Identity(config: mapping.config, fingerprint: fingerprint.finalize(),
                        isRandom: file.metadata["magfleet.random_weights"] == "true")
    }
}
