import Foundation
import Imaging
import Base
import ClusterCore

/// NOT A MODEL. A deterministic stand-in embedder for tests and coordinator benchmarks,
/// selected with `--embedder test`. Every place that records a model records its
/// ModelInfo, whose fields all say "not a model", so a store made with it cannot pass as real.
///
/// embedding = normalize(W · x), x the 16 floats of `TestImageLoader`, W a fixed dim×16 matrix
/// from `SeededGenerator` (SplitMix64); summed in a fixed order, so equal inputs give bit-identical outputs.
public final class TestEmbedder: FaceEmbedder {
    public static let inputLength = 16
    public let model: ModelInfo
    public var inputLength: Int { Self.inputLength }
    private let weights: [Float]

    /// - Parameters:
    ///   - preset, flip: recorded in the ModelInfo (so that runs can be told apart and refused as
    ///     real ones are); the hash ignores them.
    public init(dim: Int = 8, variant: String = "", preset: String = "magface", flip: Bool = false) {
        precondition(dim > 0, "dim must be positive")
        model = ModelInfo(
            fingerprint: "test-embedder-v1\(variant.isEmpty ? "" : "-" + variant) (NOT A MODEL)",
            architecture: "test-hash (NOT A MODEL)",
            dim: dim,
            preprocessing: preset,
            flip: flip)
        var rng = SeededGenerator(seed: 0x6d61_6766_6c65_6574)
        weights = (0..<(dim * Self.inputLength)).map { _ in unitFloat(rng.next()) }
    }

    public func embed(_ batch: [Float], count: Int) throws -> [Float] {
        guard batch.count == count * inputLength else {
            throw EmbedderError("batch holds \(batch.count) floats, expected \(count) x \(inputLength)")
        }
        let dim = model.dim
        var out = [Float](repeating: 0, count: count * dim)
        for n in 0..<count {
            var norm: Float = 0
            for j in 0..<dim {
                var s: Float = 0
                for k in 0..<inputLength { s += weights[j * inputLength + k] * batch[n * inputLength + k] }
                out[n * dim + j] = s
                norm += s * s
            }
            let scale = norm > 0 ? 1 / norm.squareRoot() : 1
            for j in 0..<dim { out[n * dim + j] *= scale }
        }
        return out
    }
}

/// The stand-in image loader that goes with TestEmbedder (NOT image decoding).
///
/// It reads the file's bytes (Imaging's `readFile`, so missing and special files fail as they
/// do for real images), or takes shipped bytes, and hashes them into 16 floats in [-1, 1).
/// Protocols/README.md, section 7.3, is its exact algorithm. Test hooks:
/// - a path containing `synthetic:` is not read; its text from `synthetic:` on (so a worker's
///   root does not change it) stands for the bytes;
/// - bytes beginning `MAGFLEET-TEST-FAIL` fail with a per-image error;
/// - bytes beginning `MAGFLEET-TEST-CRASH` kill the process (exit 86), a poison image;
/// - bytes beginning `MAGFLEET-TEST-STALL N` sleep N milliseconds in the read (a stalled
///   read), then hash as usual;
/// - bytes beginning `MAGFLEET-TEST-NAN` give NaN features, so the embedding is NaN (a model
///   that produces a non-finite embedding);
/// - `delayMilliseconds` sleeps per image to make shards take time.
public final class TestImageLoader: ImageLoader {
    let delayMilliseconds: Int
    let readTimeoutMilliseconds: Int

    /// Files are read as the real loader reads them: within `readTimeoutMilliseconds` (0: no deadline).
    public init(delayMilliseconds: Int = 0, readTimeoutMilliseconds: Int = BoundedFileReader.defaultTimeoutMilliseconds) {
        self.delayMilliseconds = delayMilliseconds
        self.readTimeoutMilliseconds = readTimeoutMilliseconds
    }

    public func load(_ image: ImageInput) -> Result<[Float], RowFailure> {
        if delayMilliseconds > 0 { usleep(UInt32(delayMilliseconds) * 1000) }
        let bytes: [UInt8]
        if let shipped = image.bytes {
            bytes = shipped
        } else if let name = image.path.range(of: "synthetic:") {
            bytes = Array(image.path[name.lowerBound...].utf8)
        } else {
            do { bytes = try BoundedFileReader.shared.read(image.path, timeoutMilliseconds: readTimeoutMilliseconds) } catch {
                return .failure(RowFailure(category: error.kind.rawValue, reason: error.description))
            }
        }
        let stall = Array("MAGFLEET-TEST-STALL ".utf8)
        if bytes.starts(with: stall), let ms = UInt32(String(decoding: bytes[stall.count...].prefix { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self)) {
            usleep(ms * 1000)
        }
        return Self.features(of: bytes)
    }

    /// The 16 floats for `bytes` (or the test hooks' failure / crash).
    public static func features(of bytes: [UInt8]) -> Result<[Float], RowFailure> {
        if bytes.starts(with: Array("MAGFLEET-TEST-CRASH".utf8)) { exit(86) }
        if bytes.starts(with: Array("MAGFLEET-TEST-FAIL".utf8)) { return .failure(RowFailure(category: "corrupt", reason: "test: image marked unreadable")) }
        if bytes.isEmpty { return .failure(RowFailure(category: "empty-file", reason: "empty file (0 bytes)")) }
        if bytes.starts(with: Array("MAGFLEET-TEST-NAN".utf8)) { return .success([Float](repeating: .nan, count: TestEmbedder.inputLength)) }
        var rng = SeededGenerator(seed: FNV1a.hash(bytes))
        return .success((0..<TestEmbedder.inputLength).map { _ in unitFloat(rng.next()) })
    }
}

/// A float in [-1, 1) from the top 24 bits.
func unitFloat(_ x: UInt64) -> Float { Float(x >> 40) / Float(1 << 23) - 1 }
