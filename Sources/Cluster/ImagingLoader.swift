import Foundation
import Imaging

/// The real `ImageLoader`: Imaging's decode (cv2.imread-exact), 112x112 crop (aligned from
/// landmarks, untouched, or resized) and preprocessing preset. A list line may carry a label
/// and five landmarks after the path (Imaging's list format); the landmarks are used.
///
/// Output: CHW float32 `[3, 112, 112]`; with flip fusion, that followed by the mirrored image
/// (`inputLength` = 2 x `Preprocessing.floatsPerImage`), for an embedder that fuses the two.
public final class ImagingLoader: ImageLoader {
    public let pipeline: ImagePipeline

    /// Paths arrive resolved (the worker applies its `--root`), so the pipeline's root stays empty.
    public init(preprocessing: Preprocessing = Preprocessing(), strictSize: Bool = false) {
        pipeline = ImagePipeline(options: ImagePipeline.Options(preprocessing: preprocessing, strictSize: strictSize))
    }

    public var inputLength: Int { Preprocessing.floatsPerImage * (pipeline.options.preprocessing.flip ? 2 : 1) }

    /// The string recorded as `ModelInfo.preprocessing`.
    public var preprocessingName: String { pipeline.options.preprocessing.description }

    public func load(_ source: ImageSource) -> Result<[Float], ImageLoadFailure> {
        let list = ImageList.parse(source.name)
        guard let entry = list.first else {
            let why = list.problems.first.map { "\($0)" } ?? "blank or comment line"
            return .failure(ImageLoadFailure("unusable list line: \(why)"))
        }
        let n = Preprocessing.floatsPerImage
        let flip = pipeline.options.preprocessing.flip
        var out = [Float](repeating: 0, count: inputLength)
        do {
            try out.withUnsafeMutableBufferPointer { buffer in
                let main = UnsafeMutableBufferPointer(rebasing: buffer[0..<n])
                let mirror = flip ? UnsafeMutableBufferPointer(rebasing: buffer[n..<(2 * n)]) : nil
                switch source {
                case .path:
                    _ = try pipeline.load(entry, into: main, mirror: mirror)
                case let .bytes(bytes, _):
                    _ = try bytes.withUnsafeBytes { raw in
                        try pipeline.load(bytes: raw, path: entry.path, landmarks: entry.landmarks, into: main, mirror: mirror)
                    }
                }
            }
        } catch {
            return .failure(ImageLoadFailure("\(error)"))
        }
        return .success(out)
    }
}
