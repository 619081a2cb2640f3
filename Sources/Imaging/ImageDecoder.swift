#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
internal import CJPEG
internal import CPNG

/// Decodes JPEG and PNG files to 8-bit BGR exactly as `cv2.imread(path, cv2.IMREAD_COLOR)`
/// does with OpenCV 4.x (see docs/imaging.md): libjpeg-turbo with its defaults (ISLOW IDCT,
/// fancy upsampling) straight to BGR, OpenCV's inverted-CMYK formula for CMYK/YCCK, libpng
/// with 16-bit stripped to the high byte, alpha dropped, palettes and low-depth gray expanded,
/// gray copied to three channels, and EXIF orientation applied as OpenCV applies it.
///
/// The header is read first, by magfleet itself, so that zero-size and oversized images are
/// rejected before libjpeg/libpng allocate anything. A value type; each call is independent,
/// so one decoder may be shared by any number of threads.
public struct ImageDecoder: Sendable {
    public struct Options: Sendable, Equatable {
        /// Largest `width * height` accepted; larger headers throw `.tooLarge` before any
        /// allocation. The default (2^26, e.g. 8192x8192) is far above any face crop.
        public var maxPixels: Int = 1 << 26
        /// Treat libjpeg warnings (e.g. "Premature end of JPEG file", "Corrupt JPEG data")
        /// as errors. OpenCV prints them and returns the damaged image; magfleet refuses it by
        /// default so that no feature is computed from a half-grey face.
        public var jpegWarningsAreErrors: Bool = true
        /// Apply EXIF orientation like cv2.imread (IMREAD_COLOR). Off = IMREAD_IGNORE_ORIENTATION.
        public var applyExifOrientation: Bool = true
        /// Largest file read at all (checked with fstat before reading); default 256 MiB.
        public var maxFileBytes: Int = 256 << 20
        /// Deadline of the open and read of one file, milliseconds (`BoundedFileReader.shared`);
        /// past it the image fails as `.readTimeout` (stalled storage). 0: no deadline.
        public var readTimeoutMilliseconds: Int = BoundedFileReader.defaultTimeoutMilliseconds

        public init(maxPixels: Int = 1 << 26, jpegWarningsAreErrors: Bool = true, applyExifOrientation: Bool = true,
                    maxFileBytes: Int = 256 << 20,
                    readTimeoutMilliseconds: Int = BoundedFileReader.defaultTimeoutMilliseconds) {
            self.maxPixels = maxPixels
            self.jpegWarningsAreErrors = jpegWarningsAreErrors
            self.applyExifOrientation = applyExifOrientation
            self.maxFileBytes = maxFileBytes
            self.readTimeoutMilliseconds = readTimeoutMilliseconds
        }
    }

    /// What the header says, read without decoding.
    public struct Header: Sendable, Equatable {
        public var format: ImageFormat
        public var width: Int
        public var height: Int
        /// EXIF orientation 1...8 when present and applied by this decoder's options.
        public var orientation: Int?
    }

    public var options: Options

    public init(options: Options = Options()) {
        self.options = options
    }

    /// Reads (within `options.readTimeoutMilliseconds`) and decodes the file at `path`.
    /// - Throws: `ImagingError` with `path`: missing, permission, empty, read timeout, corrupt,
    ///   unsupported, too large, zero size.
    public func decode(contentsOf path: String) throws(ImagingError) -> BGRImage {
        let bytes = try BoundedFileReader.shared.read(path, maxBytes: options.maxFileBytes,
                                                      timeoutMilliseconds: options.readTimeoutMilliseconds)
        return try bytes.withUnsafeBytes { raw in
            Result { () throws(ImagingError) in try decode(raw, path: path) }
        }.get()
    }

    /// Decodes an in-memory file. `path` only labels errors.
    public func decode(_ data: Data, path: String = "<memory>") throws(ImagingError) -> BGRImage {
        if data.isEmpty { throw .emptyFile(path: path) }
        return try data.withUnsafeBytes { raw in
            Result { () throws(ImagingError) in try decode(raw, path: path) }
        }.get()
    }

    /// Decodes the bytes of a JPEG or PNG file to BGR.
    public func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws(ImagingError) -> BGRImage {
        let header = try readHeader(bytes, path: path)
        var image: BGRImage
        switch header.format {
        case .jpeg: image = try decodeJPEG(bytes, header: header, path: path)
        case .png: image = try decodePNG(bytes, header: header, path: path)
        }
        if let orientation = header.orientation {
            image = ExifOrientation.apply(orientation, to: image)
        }
        return image
    }

    /// Reads the header only: format, dimensions, orientation; applies the zero-size and
    /// pixel-count checks.
    public func readHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws(ImagingError) -> Header {
        if bytes.isEmpty { throw .emptyFile(path: path) }
        var header: Header
        switch ImageSniffer.sniff(bytes) {
        case .jpeg:
            guard let h = JPEGHeader.scan(bytes) else {
                // No frame header found: let libjpeg say what is wrong.
                throw .corrupt(path: path, format: .jpeg, reason: libjpegHeaderMessage(bytes) ?? "no frame header (SOF) before the scan")
            }
            header = Header(format: .jpeg, width: h.width, height: h.height,
                            orientation: options.applyExifOrientation ? h.orientation : nil)
        case .png:
            guard bytes.count >= 33 else {
                throw .corrupt(path: path, format: .png, reason: "file ends inside the PNG header (\(bytes.count) bytes)")
            }
            guard bytes[12] == 0x49, bytes[13] == 0x48, bytes[14] == 0x44, bytes[15] == 0x52 else {
                throw .corrupt(path: path, format: .png, reason: "first chunk is not IHDR")
            }
            func be32(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
            header = Header(format: .png, width: be32(16), height: be32(20),
                            orientation: options.applyExifOrientation ? PNGExif.orientation(bytes) : nil)
        case .other(let reason):
            throw .unsupportedFormat(path: path, reason: reason)
        }
        if header.width == 0 || header.height == 0 {
            throw .zeroSize(path: path, width: header.width, height: header.height)
        }
        if header.width > options.maxPixels || header.height > options.maxPixels
            || header.width * header.height > options.maxPixels {
            throw .tooLarge(path: path, width: header.width, height: header.height, maxPixels: options.maxPixels)
        }
        return header
    }

    private func libjpegHeaderMessage(_ bytes: UnsafeRawBufferPointer) -> String? {
        var info = magfleet_jpeg_info()
        var message = [CChar](repeating: 0, count: Int(MAGFLEET_JPEG_MESSAGE_MAX))
        let rc = magfleet_jpeg_read_header(bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, &info, &message, message.count)
        return rc == 0 ? nil : Self.string(message)
    }

    private func decodeJPEG(_ bytes: UnsafeRawBufferPointer, header: Header, path: String) throws(ImagingError) -> BGRImage {
        var pixels = [UInt8](repeating: 0, count: header.width * header.height * 3)
        var message = [CChar](repeating: 0, count: Int(MAGFLEET_JPEG_MESSAGE_MAX))
        let strict: Int32 = options.jpegWarningsAreErrors ? 1 : 0
        let rc = pixels.withUnsafeMutableBufferPointer { out in
            magfleet_jpeg_decode_bgr(bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, out.baseAddress,
                                     Int32(header.width), Int32(header.height), strict, &message, message.count)
        }
        if rc != 0 { throw .corrupt(path: path, format: .jpeg, reason: Self.string(message)) }
        return BGRImage(width: header.width, height: header.height, pixels: pixels)
    }

    private func decodePNG(_ bytes: UnsafeRawBufferPointer, header: Header, path: String) throws(ImagingError) -> BGRImage {
        var pixels = [UInt8](repeating: 0, count: header.width * header.height * 3)
        var message = [CChar](repeating: 0, count: Int(MAGFLEET_PNG_MESSAGE_MAX))
        var info = magfleet_png_info()
        let rc = pixels.withUnsafeMutableBufferPointer { out in
            magfleet_png_decode(bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, &info, out.baseAddress,
                                &message, message.count)
        }
        if rc != 0 { throw .corrupt(path: path, format: .png, reason: Self.string(message)) }
        guard Int(info.width) == header.width, Int(info.height) == header.height else {
            throw .corrupt(path: path, format: .png, reason: "libpng read \(info.width)x\(info.height), header said \(header.width)x\(header.height)")
        }
        return BGRImage(width: header.width, height: header.height, pixels: pixels)
    }

    static func string(_ message: [CChar]) -> String {
        let bytes = message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.isEmpty ? "unknown decoder error" : text
    }

    /// Reads a whole file, mapping errno to the typed cases; files over `maxBytes` are refused
    /// before anything is read. Opens without blocking and refuses anything but a regular file
    /// (a FIFO, a device, a socket would block or never end). No deadline: a read stuck in the
    /// kernel blocks the calling thread; `BoundedFileReader` runs this with one.
    public static func readFile(_ path: String, maxBytes: Int = .max) throws(ImagingError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 { throw fileError(path, errno) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw fileError(path, errno) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw .unreadable(path: path, reason: "is a directory")
        case S_IFIFO: throw .unreadable(path: path, reason: "not a regular file: fifo")
        case S_IFCHR, S_IFBLK: throw .unreadable(path: path, reason: "not a regular file: device")
        case S_IFSOCK: throw .unreadable(path: path, reason: "not a regular file: socket")
        default: throw .unreadable(path: path, reason: "not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 { throw .emptyFile(path: path) }
        if size > maxBytes { throw .fileTooLarge(path: path, bytes: size, maxBytes: maxBytes) }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        let failure: Int32? = bytes.withUnsafeMutableBytes { buffer -> Int32? in
            while done < size {
                let n = read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { break }
                done += n
            }
            return nil
        }
        if let failure { throw fileError(path, failure) }
        if done == 0 { throw .emptyFile(path: path) }
        if done < size { bytes.removeLast(size - done) }
        return bytes
    }

    static func fileError(_ path: String, _ code: Int32) -> ImagingError {
        switch code {
        case ENOENT, ENOTDIR: .missingFile(path: path)
        case EACCES, EPERM: .permissionDenied(path: path)
        case EISDIR: .unreadable(path: path, reason: "is a directory")
        default: .unreadable(path: path, reason: String(cString: strerror(code)))
        }
    }
}
