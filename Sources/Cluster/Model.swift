import Wire

/// What a worker computes with. One store never mixes two of these: the coordinator admits
/// only workers whose ModelInfo equals its own.
public struct ModelInfo: Sendable, Equatable, CustomStringConvertible {
    public var fingerprint: String
    public var architecture: String
    public var dim: Int
    public var preprocessing: String

    public init(fingerprint: String, architecture: String, dim: Int, preprocessing: String) {
        self.fingerprint = fingerprint
        self.architecture = architecture
        self.dim = dim
        self.preprocessing = preprocessing
    }

    public var description: String { "\(architecture) dim \(dim) [\(preprocessing)] \(fingerprint)" }

    /// Why `other` may not work for a run of `self`, or nil when they match.
    public func mismatch(_ other: ModelInfo) -> String? {
        var parts: [String] = []
        if fingerprint != other.fingerprint { parts.append("fingerprint \(other.fingerprint) != \(fingerprint)") }
        if architecture != other.architecture { parts.append("architecture \(other.architecture) != \(architecture)") }
        if dim != other.dim { parts.append("dim \(other.dim) != \(dim)") }
        if preprocessing != other.preprocessing { parts.append("preprocessing \(other.preprocessing) != \(preprocessing)") }
        return parts.isEmpty ? nil : "model mismatch (worker vs coordinator): " + parts.joined(separator: "; ")
    }

    public var wire: WireModelInfo {
        var m = WireModelInfo()
        m.fingerprint = fingerprint
        m.architecture = architecture
        m.dim = UInt32(clamping: dim)
        m.preprocessing = preprocessing
        return m
    }

    public init(wire m: WireModelInfo) {
        self.init(fingerprint: m.fingerprint, architecture: m.architecture, dim: Int(m.dim), preprocessing: m.preprocessing)
    }
}

/// Computes face embeddings. The worker uses it from its one compute thread only.
/// The real implementation wraps IResNet; `TestEmbedder` is a stand-in that is not a model.
public protocol FaceEmbedder: AnyObject {
    var model: ModelInfo { get }
    /// Floats per preprocessed image (C*H*W, e.g. 3*112*112).
    var inputLength: Int { get }
    /// Embeds `count` images laid out NCHW in `batch` (count * inputLength floats) and returns
    /// count * model.dim floats, row-major.
    func embed(_ batch: [Float], count: Int) throws -> [Float]
}

/// Where an image comes from: a path the worker reads, or bytes the coordinator shipped.
public enum ImageSource: Sendable {
    case path(String)
    case bytes([UInt8], name: String)

    public var name: String {
        switch self {
        case let .path(p): return p
        case let .bytes(_, name): return name
        }
    }
}

/// Why one image could not be used. Goes back to the coordinator as that image's result.
public struct ImageLoadFailure: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Decodes and preprocesses one image into CHW floats of the embedder's `inputLength`.
/// The real implementation wraps Imaging; `TestImageLoader` is the stand-in.
public protocol ImageLoader: AnyObject {
    func load(_ source: ImageSource) -> Result<[Float], ImageLoadFailure>
}
