internal import CJPEG
internal import CPNG

/// Versions of the image codec libraries this build links.
public enum CodecLibraries {
    /// libjpeg-turbo's version from the headers this build used, e.g. "2.1.5 (libjpeg API 62)".
    public static var jpegVersion: String {
        let turbo = Int(magfleet_jpeg_turbo_version_number())
        let api = Int(magfleet_jpeg_lib_version())
        guard turbo > 0 else { return "libjpeg API \(api) (not libjpeg-turbo)" }
        return "\(turbo / 1_000_000).\(turbo / 1000 % 1000).\(turbo % 1000) (libjpeg API \(api))"
    }

    /// Whether the linked libjpeg is libjpeg-turbo (whose JCS_EXT_BGR output the decoder uses).
    public static var isJPEGTurbo: Bool { magfleet_jpeg_turbo_version_number() > 0 }

    /// libpng's run-time version, e.g. "1.6.39".
    public static var pngVersion: String {
        let v = Int(magfleet_png_version())
        return "\(v / 10000).\(v / 100 % 100).\(v % 100)"
    }
}
