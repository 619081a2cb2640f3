/// What a worker calls per list entry: read, decode (cv2.imread-exact), bring to 112x112
/// (untouched / aligned from landmarks / bilinear resize / rejected with `strictSize`), then
/// normalise into the caller's slot of a batch tensor.
///
/// A value type holding only options; safe to share across threads. Each call allocates its
/// own decode buffers, so calls from different threads never contend.
public struct ImagePipeline: Sendable {
    public struct Options: Sendable, Equatable {
        public var decoder: ImageDecoder.Options
        public var preprocessing: Preprocessing
        /// Reject images that are not 112x112 (and carry no landmarks) instead of resizing.
        public var strictSize: Bool
        /// Where list paths are found (`ImageRoot.join`; "" = as written).
        public var root: String

        public init(decoder: ImageDecoder.Options = .init(), preprocessing: Preprocessing = .init(),
                    strictSize: Bool = false, root: String = "") {
            self.decoder = decoder
            self.preprocessing = preprocessing
            self.strictSize = strictSize
            self.root = root
        }
    }

    /// How the 112x112 crop was obtained.
    public enum Geometry: String, Sendable, Codable {
        case untouched, resized, aligned
    }

    /// What `load` did for one image.
    public struct Loaded: Sendable, Equatable {
        /// Size of the decoded image (after EXIF orientation).
        public var width: Int
        public var height: Int
        public var geometry: Geometry
    }

    public let options: Options
    private let decoder: ImageDecoder
    private let table: [Float]

    public init(options: Options = Options()) {
        self.options = options
        self.decoder = ImageDecoder(options: options.decoder)
        self.table = options.preprocessing.table
    }

    /// The file a list path refers to: `ImageRoot.join(options.root, path)`.
    public func resolve(_ path: String) -> String { ImageRoot.join(options.root, path) }

    /// Decodes the entry's file and returns its 112x112 BGR crop.
    /// - Throws: `ImagingError` carrying the resolved path.
    public func crop(_ entry: ListEntry) throws(ImagingError) -> (BGRImage, Loaded) {
        if let problem = entry.problem { throw .malformedLine(path: entry.path, line: entry.line, reason: problem) }
        let path = resolve(entry.path)
        let image = try decoder.decode(contentsOf: path)
        return try crop(image, landmarks: entry.landmarks, path: path)
    }

    /// Brings a decoded image to 112x112: aligned when `landmarks` are given, untouched when
    /// already 112x112, else resized (or `.wrongSize` with `strictSize`).
    public func crop(_ image: BGRImage, landmarks: Landmarks?, path: String) throws(ImagingError) -> (BGRImage, Loaded) {
        let n = Preprocessing.size
        var info = Loaded(width: image.width, height: image.height, geometry: .untouched)
        if let landmarks {
            guard let aligned = Alignment.align(image, landmarks: landmarks.points, size: n) else {
                throw .badLandmarks(path: path, reason: "the five points do not define a similarity transform")
            }
            info.geometry = .aligned
            return (aligned, info)
        }
        if image.width == n && image.height == n { return (image, info) }
        if options.strictSize { throw .wrongSize(path: path, width: image.width, height: image.height) }
        info.geometry = .resized
        return (Resize.bilinear(image, width: n, height: n), info)
    }

    /// Loads one entry into the caller's buffers.
    /// - Parameters:
    ///   - entry: a list entry; its path is joined to `options.root`.
    ///   - out: CHW float32 `[3, 112, 112]` (`Preprocessing.floatsPerImage` floats), usually
    ///     `batch + i * floatsPerImage` of an NCHW batch.
    ///   - mirror: where the mirrored image goes when flip fusion is on (ignored otherwise;
    ///     required when `options.preprocessing.flip`).
    /// - Throws: `ImagingError`; then nothing has been written to `out` (the image is fully
    ///   decoded and cropped before the first float is written).
    public func load(_ entry: ListEntry, into out: UnsafeMutableBufferPointer<Float>,
                     mirror: UnsafeMutableBufferPointer<Float>? = nil) throws(ImagingError) -> Loaded {
        let (image, info) = try crop(entry)
        write(image, into: out, mirror: mirror)
        return info
    }

    /// Loads in-memory file bytes (e.g. received over the wire) the same way as `load(_:into:mirror:)`.
    public func load(bytes: UnsafeRawBufferPointer, path: String, landmarks: Landmarks? = nil,
                     into out: UnsafeMutableBufferPointer<Float>,
                     mirror: UnsafeMutableBufferPointer<Float>? = nil) throws(ImagingError) -> Loaded {
        let decoded = try decoder.decode(bytes, path: path)
        let (image, info) = try crop(decoded, landmarks: landmarks, path: path)
        write(image, into: out, mirror: mirror)
        return info
    }

    private func write(_ image: BGRImage, into out: UnsafeMutableBufferPointer<Float>, mirror: UnsafeMutableBufferPointer<Float>?) {
        let p = options.preprocessing
        p.write(image, into: out, mirrored: false, table: table)
        if p.flip {
            guard let mirror else { preconditionFailure("flip fusion is on: pass a mirror buffer") }
            p.write(image, into: mirror, mirrored: true, table: table)
        }
    }
}
