import Foundation

/// `.npy` files (NumPy format 1.0) holding a 2-D float matrix, C order.
public enum NumpyArray {
    /// Writes the store's embeddings, `[count, dim]` `<f4` (failed rows are zeros), streaming.
    public static func export(_ reader: FeatureStoreReader, to url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: header(rows: reader.count, columns: reader.dim)) else {
            throw FeatureStoreError.io(path: url.path, message: "cannot create file")
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try reader.forEachEmbeddingChunk(chunkRows: 8192) { _, chunk in
            try handle.write(contentsOf: Data(buffer: chunk))  // little-endian hosts only (x86-64, arm64)
        }
    }

    /// The format 1.0 header for a `<f4` C-order matrix, padded to a multiple of 64 bytes.
    static func header(rows: Int, columns: Int) -> Data {
        var dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(dict.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Array(dict.utf8))
        return data
    }

    /// Reads a 2-D `<f4` or `<f8` C-order matrix; returns (rows, columns, float32 values).
    public static func read(_ url: URL) throws -> (rows: Int, columns: Int, values: [Float]) {
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        func fail(_ message: String) -> FeatureStoreError { .parse(path: url.path, line: nil, message: message) }
        guard data.count >= 10, data.prefix(6) == Data([0x93] + Array("NUMPY".utf8)) else { throw fail("not a .npy file (bad magic)") }
        let major = data[data.startIndex + 6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(data[data.startIndex + 8]) | Int(data[data.startIndex + 9]) << 8
            headerStart = 10
        case 2, 3:
            guard data.count >= 12 else { throw fail("truncated header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(data[data.startIndex + 8 + $1]) << (8 * $1) }
            headerStart = 12
        default: throw fail("unsupported .npy version \(major)")
        }
        guard data.count >= headerStart + headerLength else { throw fail("truncated header") }
        let header = String(decoding: data[(data.startIndex + headerStart)..<(data.startIndex + headerStart + headerLength)], as: UTF8.self)
        let isF4 = header.contains("'descr': '<f4'"), isF8 = header.contains("'descr': '<f8'")
        guard isF4 || isF8 else { throw fail("dtype must be <f4 or <f8: \(header.trimmingCharacters(in: .whitespacesAndNewlines))") }
        guard header.contains("'fortran_order': False") else { throw fail("Fortran-order arrays are not supported") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else { throw fail("no shape in header") }
        let dims = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard dims.count == 2 else { throw fail("expected a 2-D array, shape is (\(header[open.upperBound..<close]))") }
        let count = dims[0] * dims[1], width = isF4 ? 4 : 8
        let start = data.startIndex + headerStart + headerLength
        guard data.count - (headerStart + headerLength) >= count * width else {
            throw fail("truncated: shape (\(dims[0]), \(dims[1])) needs \(count * width) bytes of data, the file has \(data.count - headerStart - headerLength)")
        }
        var values = [Float](repeating: 0, count: count)
        data[start..<(start + count * width)].withUnsafeBytes { raw in
            if isF4 {
                for i in 0..<count { values[i] = raw.loadUnaligned(fromByteOffset: i * 4, as: Float.self) }
            } else {
                for i in 0..<count { values[i] = Float(raw.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
            }
        }
        return (dims[0], dims[1], values)
    }

    /// Imports a `.npy` matrix as a store. `paths` names the rows (default "row-<i>");
    /// `provenance.embeddingDim` is replaced by the matrix's width.
    @discardableResult
    public static func importStore(from url: URL, paths: [String]? = nil, to store: URL, provenance: StoreProvenance, options: StoreWriteOptions = .init()) throws -> Int {
        let (rows, columns, values) = try read(url)
        if let paths, paths.count != rows {
            throw FeatureStoreError.parse(path: url.path, line: nil, message: "\(rows) rows but \(paths.count) paths")
        }
        var provenance = provenance
        provenance.embeddingDim = columns
        let writer = try FeatureStoreWriter(url: store, provenance: provenance, options: options)
        let batch = 8192
        for start in stride(from: 0, to: rows, by: batch) {
            let end = min(start + batch, rows)
            try writer.append(StoreRows(
                embeddings: Array(values[(start * columns)..<(end * columns)]),
                paths: (start..<end).map { paths?[$0] ?? "row-\($0)" },
                labels: Array(repeating: -1, count: end - start),
                statuses: Array(repeating: .ok, count: end - start)))
        }
        try writer.finish()
        return rows
    }
}
