import Foundation
import Imaging
import ClusterCore

/// The real `ImageLoader`: Imaging's decode (cv2.imread-exact), 112x112 crop (aligned from the
/// item's landmarks, untouched, or resized) and preprocessing preset. It never parses list
/// lines: the coordinator sends typed items (path, landmarks).
///
/// Output: CHW float32 `[3, 112, 112]`; with flip fusion, that followed by the mirrored image
/// (`inputLength` = 2 x `Preprocessing.floatsPerImage`), for an embedder that fuses the two.
public final class ImagingLoader: ImageLoader {
    public let pipeline: ImagePipeline

    /// Paths arrive joined to the worker's root, so the pipeline's root stays empty. Each file's
    /// open and read wait at most `readTimeoutMilliseconds` (0: no deadline).
    public init(preprocessing: Preprocessing = Preprocessing(), strictSize: Bool = false,
                readTimeoutMilliseconds: Int = BoundedFileReader.defaultTimeoutMilliseconds) {
        pipeline = ImagePipeline(options: ImagePipeline.Options(
            decoder: .init(readTimeoutMilliseconds: readTimeoutMilliseconds), preprocessing: preprocessing, strictSize: strictSize))
    }

    public var inputLength: Int { Preprocessing.floatsPerImage * (pipeline.options.preprocessing.flip ? 2 : 1) }

    public func load(_ image: ImageInput) -> Result<[Float], RowFailure> {
        let landmarks = image.landmarks.count == 10 ? Landmarks(image.landmarks) : nil
        if !image.landmarks.isEmpty && landmarks == nil {
            return .failure(RowFailure(category: ImagingError.Kind.badLandmarks.rawValue,
                                       reason: "\(image.landmarks.count) landmark values, expected 10"))
        }
        let n = Preprocessing.floatsPerImage
        let flip = pipeline.options.preprocessing.flip
        var out = [Float](repeating: 0, count: inputLength)
        let loaded: Result<ImagePipeline.Loaded, ImagingError> = out.withUnsafeMutableBufferPointer { buffer in
            let main = UnsafeMutableBufferPointer(rebasing: buffer[0..<n])
            let mirror = flip ? UnsafeMutableBufferPointer(rebasing: buffer[n..<(2 * n)]) : nil
            if let bytes = image.bytes {
                return bytes.withUnsafeBytes { raw in
                    Result { () throws(ImagingError) in
                        try pipeline.load(bytes: raw, path: image.path, landmarks: landmarks, into: main, mirror: mirror)
                    }
                }
            }
            return Result { () throws(ImagingError) in
                try pipeline.load(ListEntry(index: 0, line: 0, path: image.path, landmarks: landmarks), into: main, mirror: mirror)
            }
        }
        if case let .failure(error) = loaded {
            return .failure(RowFailure(category: error.kind.rawValue, reason: error.description))
        }
        return .success(out)
    }
}
