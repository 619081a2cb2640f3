internal import CHDF5
import Foundation

/// An owned dataset of rank 1 ([N]) or rank 2 ([N, D]), read and written by row ranges.
final class HDF5Dataset {
    let id: hid_t
    let name: String
    let path: String

    init(id: hid_t, name: String, path: String) {
        self.id = id
        self.name = name
        self.path = path
    }

    deinit { H5Dclose(id) }

    func space() throws(FeatureStoreError) -> HDF5Dataspace {
        HDF5Dataspace(try HDF5.check(H5Dget_space(id), "H5Dget_space(\(name))", path: path))
    }

    func type() throws(FeatureStoreError) -> HDF5Type {
        HDF5Type(try HDF5.check(H5Dget_type(id), "H5Dget_type(\(name))", path: path))
    }

    /// The current dimensions.
    func shape() throws(FeatureStoreError) -> [Int] { try space().dimensions(path: path) }

    /// The chunk's dimensions, or nil for a contiguous dataset.
    func chunkShape() throws(FeatureStoreError) -> [Int]? {
        let plist = HDF5PropertyList(try HDF5.check(H5Dget_create_plist(id), "H5Dget_create_plist", path: path))
        guard H5Pget_layout(plist.id) == H5D_CHUNKED else { return nil }
        var dims = [UInt64](repeating: 0, count: 8)
        let rank = try HDF5.check(H5Pget_chunk(plist.id, 8, &dims), "H5Pget_chunk", path: path)
        return dims.prefix(Int(rank)).map { Int($0) }
    }

    /// At most how many bytes a flush writes for this dataset's raw data into new file space:
    /// the dirty chunks its chunk cache can hold (bounded by its chunks), each with room for a
    /// deflate that grew it and the checksum. 0 for a contiguous dataset (its space is
    /// allocated when written) and for chunks bigger than the cache (written by H5Dwrite).
    func bufferedBytesBound() -> Int {
        guard let chunk = try? chunkShape(), let dims = try? shape(), let stored = try? type() else {
            _ = HDF5.takeErrorStack()
            return 0
        }
        let access = H5Dget_access_plist(id)
        defer { if access >= 0 { H5Pclose(access) } }
        var slots = 0, cacheBytes = 0
        var preemption = 0.0
        guard access >= 0, H5Pget_chunk_cache(access, &slots, &cacheBytes, &preemption) >= 0 else {
            _ = HDF5.takeErrorStack()
            return 0
        }
        let elementBytes = stored.isVariableString ? 16 : stored.size  // a vlen element on disk: length + heap id
        let raw = chunk.reduce(1, *) * elementBytes
        guard raw <= cacheBytes else { return 0 }
        let chunks = zip(dims, chunk).reduce(1) { $0 * (($1.0 + $1.1 - 1) / $1.1) }
        return min(chunks, cacheBytes / raw + 1) * (raw + raw / 64 + 64)
    }

    /// Grows the first dimension to `rows`.
    func extend(toRows rows: Int) throws(FeatureStoreError) {
        var dims = try shape().map { UInt64($0) }
        dims[0] = UInt64(rows)
        try HDF5.check(H5Dset_extent(id, dims), "H5Dset_extent(\(name))", path: path)
    }

    /// The file and memory spaces selecting rows `start..<start+count`.
    private func selection(_ start: Int, _ count: Int) throws(FeatureStoreError) -> (file: HDF5Dataspace, memory: HDF5Dataspace, columns: Int?) {
        let file = try space()
        let dims = try file.dimensions(path: path)
        guard !dims.isEmpty, start >= 0, count >= 0, start + count <= dims[0] else {
            throw .rowRange(path: path, dataset: name, start: start, count: count, rows: dims.first ?? 0)
        }
        let columns: Int? = dims.count > 1 ? dims[1] : nil
        try file.selectRows(start, count, columns: columns, path: path)
        let memoryDims = columns.map { [count, $0] } ?? [count]
        return (file, try HDF5Dataspace.simple(memoryDims, path: path), columns)
    }

    /// Writes `count` rows at `start` from `buffer` (row-major, count x columns elements).
    func write<T: HDF5Scalar>(_ buffer: UnsafeBufferPointer<T>, rows start: Int, count: Int) throws(FeatureStoreError) {
        if count == 0 { return }
        let (file, memory, columns) = try selection(start, count)
        precondition(buffer.count == count * (columns ?? 1), "buffer does not match the row selection")
        try HDF5.check(
            H5Dwrite(id, T.element.memoryType, memory.id, file.id, magfleet_H5P_DEFAULT(), buffer.baseAddress),
            "H5Dwrite(\(name))", path: path)
    }

    /// Reads `count` rows at `start` into `buffer` (count x columns elements).
    func read<T: HDF5Scalar>(into buffer: UnsafeMutableBufferPointer<T>, rows start: Int, count: Int) throws(FeatureStoreError) {
        if count == 0 { return }
        let (file, memory, columns) = try selection(start, count)
        precondition(buffer.count >= count * (columns ?? 1), "buffer too small for the row selection")
        try HDF5.check(
            H5Dread(id, T.element.memoryType, memory.id, file.id, magfleet_H5P_DEFAULT(), buffer.baseAddress),
            "H5Dread(\(name))", path: path, dataset: name)
    }

    /// Reads rows `start..<start+count` as an array.
    func read<T: HDF5Scalar>(_: T.Type, rows start: Int, count: Int) throws(FeatureStoreError) -> [T] {
        let columns = try shape().dropFirst().reduce(1, *)
        var result = [T](repeating: .zero, count: count * columns)
        try result.withUnsafeMutableBufferPointer { (buffer) throws(FeatureStoreError) in
            try read(into: buffer, rows: start, count: count)
        }
        return result
    }

    /// Writes strings as variable-length UTF-8 at rows `start..<start+count` of a rank-1 dataset.
    func writeStrings(_ strings: some Collection<String>, rows start: Int) throws(FeatureStoreError) {
        let count = strings.count
        if count == 0 { return }
        let (file, memory, _) = try selection(start, count)
        let type = try HDF5Type.utf8String(path: path)
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        try HDF5.check(
            H5Dwrite(id, type.id, memory.id, file.id, magfleet_H5P_DEFAULT(), &pointers),
            "H5Dwrite(\(name))", path: path)
    }

    /// Reads rows `start..<start+count` of a rank-1 variable-length string dataset.
    func readStrings(rows start: Int, count: Int) throws(FeatureStoreError) -> [String] {
        if count == 0 { return [] }
        let stored = try type()
        guard stored.typeClass == H5T_STRING, stored.isVariableString else {
            throw .datasetType(path: path, name: name, expected: "variable-length UTF-8 strings")
        }
        let (file, memory, _) = try selection(start, count)
        let type = try HDF5Type.utf8String(path: path)
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
        try HDF5.check(
            H5Dread(id, type.id, memory.id, file.id, magfleet_H5P_DEFAULT(), &pointers),
            "H5Dread(\(name))", path: path, dataset: name)
        let strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
        try HDF5.check(magfleet_H5_reclaim(type.id, memory.id, &pointers), "H5Dvlen_reclaim", path: path)
        return strings
    }

    /// Whether the stored element class matches `element` (float for float32, integer for ints).
    func stores(_ element: HDF5Element) throws(FeatureStoreError) -> Bool {
        let stored = try type()
        switch element {
        case .float32: return stored.typeClass == H5T_FLOAT
        case .int64, .int32, .uint8: return stored.typeClass == H5T_INTEGER
        }
    }
}
