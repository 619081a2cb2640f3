import Wire

/// What a worker computes with. One store never mixes two of these: the coordinator admits
/// only workers whose ModelInfo equals its own (Protocols/README.md, section 7).
public struct ModelInfo: Sendable, Equatable, CustomStringConvertible {
    public var fingerprint: String
    public var architecture: String
    public var dim: Int
    /// The preprocessing preset ("magface", "arcface"; the test embedder's is its own).
    public var preprocessing: String
    /// Flip fusion: the embedding is the sum of the image's and its mirror image's.
    public var flip: Bool

    public init(fingerprint: String, architecture: String, dim: Int, preprocessing: String, flip: Bool = false) {
        self.fingerprint = fingerprint
        self.architecture = architecture
        self.dim = dim
        self.preprocessing = preprocessing
        self.flip = flip
    }

    public var description: String { "\(architecture) dim \(dim) [\(preprocessing)\(flip ? "+flip" : "")] \(fingerprint)" }

    /// Each field that differs between `self` and `other`, with both values.
    public func differences(_ other: ModelInfo) -> [String] {
        var parts: [String] = []
        if fingerprint != other.fingerprint { parts.append("fingerprint \(other.fingerprint) != \(fingerprint)") }
        if architecture != other.architecture { parts.append("architecture \(other.architecture) != \(architecture)") }
        if dim != other.dim { parts.append("dim \(other.dim) != \(dim)") }
        if preprocessing != other.preprocessing { parts.append("preprocessing \(other.preprocessing) != \(preprocessing)") }
        if flip != other.flip { parts.append("flip \(other.flip) != \(flip)") }
        return parts
    }

    /// Why `other` may not work for a run of `self`, or nil when they match.
    public func mismatch(_ other: ModelInfo) -> String? {
        let parts = differences(other)
        return parts.isEmpty ? nil : "model mismatch (worker vs coordinator): " + parts.joined(separator: "; ")
    }

    public var wire: WireModelInfo {
        var m = WireModelInfo()
        m.fingerprint = fingerprint
        m.architecture = architecture
        m.dim = UInt32(clamping: dim)
        m.preprocessing = preprocessing
        m.flip = flip
        return m
    }

    public init(wire m: WireModelInfo) {
        self.init(fingerprint: m.fingerprint, architecture: m.architecture, dim: Int(m.dim), preprocessing: m.preprocessing, flip: m.flip)
    }
}

/// Computes face embeddings. The worker uses it from its one compute thread only.
/// The real implementation wraps IResNet; `TestEmbedder` is a stand-in that is not a model.
public protocol FaceEmbedder: AnyObject {
    var model: ModelInfo { get }
    /// Floats per preprocessed image (C*H*W, e.g. 3*112*112; twice that with flip fusion).
    var inputLength: Int { get }
    /// Embeds `count` images laid out NCHW in `batch` (count * inputLength floats) and returns
    /// count * model.dim floats, row-major: raw embeddings (not normalized).
    func embed(_ batch: [Float], count: Int) throws -> [Float]
}

/// One image to load: where it is and how to crop it.
public struct ImageInput: Sendable {
    /// The file to read (the list path joined to the worker's root), or the name of shipped bytes.
    public var path: String
    /// The file's bytes when the coordinator shipped them; nil: read `path`.
    public var bytes: [UInt8]?
    /// Empty, or the five landmarks x1 y1 ... x5 y5 in image pixels.
    public var landmarks: [Double]

    public init(path: String, bytes: [UInt8]? = nil, landmarks: [Double] = []) {
        self.path = path
        self.bytes = bytes
        self.landmarks = landmarks
    }
}

/// Decodes and preprocesses one image into CHW floats of the embedder's `inputLength`, or says
/// why not. The real implementation wraps Imaging; `TestImageLoader` is the stand-in.
public protocol ImageLoader: AnyObject {
    func load(_ image: ImageInput) -> Result<[Float], RowFailure>
}

extension RowFailure: Error {}
