/// Everything that can go wrong reading an image list or one image. Every case carries the
/// path (as given to the decoder, usually the resolved list entry) and a reason a user can act
/// on. One bad image never stops a run: a worker records the error for that entry and goes on.
public enum ImagingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// No file at `path` (ENOENT, or a path component that is not a directory).
    case missingFile(path: String)
    /// The file exists but this process may not read it (EACCES, EPERM).
    case permissionDenied(path: String)
    /// The file could not be read for another reason (a directory, an I/O error).
    case unreadable(path: String, reason: String)
    /// Opening and reading the file took longer than the read deadline (`--read-timeout-ms`):
    /// stalled storage, e.g. a hard-mounted NFS server gone away. The read is abandoned on its
    /// helper thread (`BoundedFileReader`).
    case readTimeout(path: String, milliseconds: Int)
    /// Not read at all: `stalled` earlier reads are still stuck past their deadline, the most
    /// `BoundedFileReader` abandons, so reads fail at once until one of them returns.
    case readsStalled(path: String, stalled: Int)
    /// The file has zero bytes.
    case emptyFile(path: String)
    /// A JPEG or PNG whose data is truncated or corrupt (libjpeg / libpng's own message).
    /// With strict JPEG decoding (the default) libjpeg warnings such as "Premature end of
    /// JPEG file" land here too.
    case corrupt(path: String, format: ImageFormat, reason: String)
    /// Not a JPEG or PNG: another image format magfleet does not decode, or not an image.
    case unsupportedFormat(path: String, reason: String)
    /// The header declares more pixels than the configured limit (a decompression bomb). Raised
    /// from the header alone, before any pixel buffer is allocated.
    case tooLarge(path: String, width: Int, height: Int, maxPixels: Int)
    /// The file itself is bigger than the configured limit; it is not read at all.
    case fileTooLarge(path: String, bytes: Int, maxBytes: Int)
    /// The header declares a zero width or height.
    case zeroSize(path: String, width: Int, height: Int)
    /// `--strict-size` is on and the image is not 112x112 (and carries no landmarks).
    case wrongSize(path: String, width: Int, height: Int)
    /// The landmarks cannot define a similarity transform (all points coincide, NaN...).
    case badLandmarks(path: String, reason: String)
    /// The image list itself could not be read.
    case listUnreadable(path: String, reason: String)
    /// The list line of this row does not parse (`ListEntry.problem`).
    case malformedLine(path: String, line: Int, reason: String)

    /// The error's kind without its context, for counting failures by kind in a report.
    public enum Kind: String, Sendable, CaseIterable, Codable {
        case missingFile = "missing-file"
        case permissionDenied = "permission-denied"
        case unreadable
        case readTimeout = "read-timeout"
        case emptyFile = "empty-file"
        case corrupt
        case unsupportedFormat = "unsupported-format"
        case tooLarge = "too-large"
        case zeroSize = "zero-size"
        case wrongSize = "wrong-size"
        case badLandmarks = "bad-landmarks"
        case listUnreadable = "list-unreadable"
        case malformedLine = "malformed-line"
    }

    public var kind: Kind {
        switch self {
        case .missingFile: .missingFile
        case .permissionDenied: .permissionDenied
        case .unreadable: .unreadable
        case .readTimeout, .readsStalled: .readTimeout
        case .emptyFile: .emptyFile
        case .corrupt: .corrupt
        case .unsupportedFormat: .unsupportedFormat
        case .tooLarge, .fileTooLarge: .tooLarge
        case .zeroSize: .zeroSize
        case .wrongSize: .wrongSize
        case .badLandmarks: .badLandmarks
        case .listUnreadable: .listUnreadable
        case .malformedLine: .malformedLine
        }
    }

    /// The file the error is about.
    public var path: String {
        switch self {
        case .missingFile(let p), .permissionDenied(let p), .emptyFile(let p): p
        case .unreadable(let p, _), .unsupportedFormat(let p, _), .badLandmarks(let p, _),
             .listUnreadable(let p, _): p
        case .malformedLine(let p, _, _): p
        case .corrupt(let p, _, _): p
        case .tooLarge(let p, _, _, _): p
        case .readTimeout(let p, _), .readsStalled(let p, _): p
        case .fileTooLarge(let p, _, _): p
        case .zeroSize(let p, _, _), .wrongSize(let p, _, _): p
        }
    }

    /// The reason alone, without the path.
    public var reason: String {
        switch self {
        case .missingFile: "no such file"
        case .permissionDenied: "permission denied"
        case .unreadable(_, let r): r
        case .readTimeout(_, let ms):
            "open and read did not finish within \(ms) ms (--read-timeout-ms): stalled storage? (a hung network mount); the read was abandoned"
        case .readsStalled(_, let n):
            "not read: \(n) earlier reads are still stalled past --read-timeout-ms (stalled storage?); reads fail at once until one of them returns"
        case .emptyFile: "empty file (0 bytes)"
        case .corrupt(_, let format, let r): "corrupt or truncated \(format.rawValue.uppercased()): \(r)"
        case .unsupportedFormat(_, let r): r
        case .tooLarge(_, let w, let h, let limit):
            "\(w)x\(h) = \(w * h) pixels exceeds the limit of \(limit) (possible decompression bomb; raise --max-pixels if intended)"
        case .fileTooLarge(_, let bytes, let limit):
            "file is \(bytes) bytes, over the limit of \(limit) (raise --max-file-bytes if intended)"
        case .zeroSize(_, let w, let h): "zero-size image (\(w)x\(h))"
        case .wrongSize(_, let w, let h): "\(w)x\(h) is not 112x112 and --strict-size is on"
        case .badLandmarks(_, let r): "bad landmarks: \(r)"
        case .listUnreadable(_, let r): "cannot read image list: \(r)"
        case .malformedLine(_, let line, let r): "list line \(line) \(r)"
        }
    }

    public var description: String { "\(path): \(reason)" }
}

/// The image container formats magfleet decodes.
public enum ImageFormat: String, Sendable, Codable {
    case jpeg
    case png
}
