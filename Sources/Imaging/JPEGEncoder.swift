internal import CJPEG

/// Baseline JPEG encoding (libjpeg-turbo, ISLOW, 4:2:0), for making benchmark and test
/// inputs. Never on the extraction path.
public enum JPEGEncoder {
    /// Encodes `image` at `quality` (1...100).
    /// - Throws: `ImagingError.unsupportedFormat` carrying libjpeg's message if encoding fails.
    public static func encode(_ image: BGRImage, quality: Int = 95) throws(ImagingError) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        var message = [CChar](repeating: 0, count: Int(MAGFLEET_JPEG_MESSAGE_MAX))
        let rc = image.pixels.withUnsafeBufferPointer {
            magfleet_jpeg_encode_bgr($0.baseAddress, Int32(image.width), Int32(image.height), Int32(quality),
                                     &out, &size, &message, message.count)
        }
        guard rc == 0, let out else {
            throw .unsupportedFormat(path: "<encoder>", reason: "JPEG encoding failed: \(ImageDecoder.string(message))")
        }
        defer { magfleet_jpeg_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }
}
