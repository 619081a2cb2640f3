internal import CHDF5
import Foundation

/// A small HDF5 file of named float32 arrays, named lists of UTF-8 strings and scalar root
/// attributes: how a model artefact (the classification head's `head.h5`) is stored, readable
/// with h5py as `f["fc1/weight"][:]`, `f["label_names"].asstr()[:]`, `f.attrs["format"]`.
///
/// Names may contain `/`: "fc1/weight" is the dataset `weight` in the group `fc1` (created on
/// write). Arrays are contiguous little-endian float32 (`<f4`), row-major, of any rank (rank 0
/// is a scalar); strings are variable-length UTF-8 ([N]); attributes are scalars: a UTF-8
/// string, an int64 or a float64. See docs/feature-store.md, "Array files".
///
/// The whole file is held in memory: this is for artefacts of megabytes, not for features.
public struct ArrayFile: Sendable, Equatable {
    /// A float32 array and its shape (row-major: the last dimension varies fastest).
    public struct Floats: Sendable, Equatable {
        public var shape: [Int]
        public var values: [Float]

        /// - Precondition: `values.count` is the product of `shape` (1 for rank 0).
        public init(shape: [Int], values: [Float]) {
            precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
                         "\(values.count) values do not fill shape \(shape)")
            self.shape = shape
            self.values = values
        }
    }

    /// A scalar root attribute.
    public enum Attribute: Sendable, Equatable, CustomStringConvertible {
        case string(String)
        case integer(Int64)
        case real(Double)

        public var description: String {
            switch self {
            case .string(let s): s.debugDescription
            case .integer(let i): String(i)
            case .real(let r): String(r)
            }
        }
    }

    public var arrays: [String: Floats]
    public var strings: [String: [String]]
    public var attributes: [String: Attribute]

    public init(arrays: [String: Floats] = [:], strings: [String: [String]] = [:], attributes: [String: Attribute] = [:]) {
        self.arrays = arrays
        self.strings = strings
        self.attributes = attributes
    }

    /// Writes the file atomically: under a hidden temporary name in the destination directory
    /// (`.NAME.partial-PID-UUID`), flushed and fsynced, then renamed over `url`. A reader finds
    /// the old file, the new one, or none; never half of one.
    ///
    /// - Throws: `FeatureStoreError.invalidRows` for a bad name (empty, leading `/`, `.` or `..`
    ///   components, or used twice), `.hdf5` with HDF5's error text, `.io` when the rename fails.
    public func write(to url: URL) throws(FeatureStoreError) {
        let names = Array(arrays.keys) + Array(strings.keys)
        for name in names {
            let parts = name.split(separator: "/", omittingEmptySubsequences: false)
            guard !name.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
                throw .invalidRows("array name \(name.debugDescription) in \(url.path): use non-empty `/`-separated parts")
            }
        }
        if let clash = Set(arrays.keys).intersection(strings.keys).first {
            throw .invalidRows("\(clash.debugDescription) names both a float array and a string list in \(url.path)")
        }
        let temporary = PartialFile.temporary(for: url)
        do {
            try writeContents(to: temporary.path)
            try FeatureStoreWriter.fsync(temporary.path, directory: false)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if case .noSpace = error { throw .noSpace(path: url.path) }
            throw error
        }
        guard rename(temporary.path, url.path) == 0 else {
            let message = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw .io(path: url.path, message: "cannot rename \(temporary.lastPathComponent) into place: \(message)")
        }
        try FeatureStoreWriter.fsync(url.deletingLastPathComponent().path, directory: true)
    }

    /// Creates the file at `path`, writes everything and closes it (a failure discards it).
    private func writeContents(to path: String) throws(FeatureStoreError) {
        let file = try HDF5File.create(path)
        do { try writeContents(of: file) } catch {
            file.discard()  // the caller deletes it; closing must not write to a failing disk
            throw error
        }
    }

    private func writeContents(of file: HDF5File) throws(FeatureStoreError) {
        let path = file.path
        for name in arrays.keys.sorted() {
            let array = arrays[name]!
            let dataset = try file.createFixedDataset(name, type: HDF5Element.float32.fileType, shape: array.shape)
            if !array.values.isEmpty { try dataset.writeAll(array.values) }
        }
        if !strings.isEmpty {
            let stringType = try HDF5Type.utf8String(path: path)
            for name in strings.keys.sorted() {
                let list = strings[name]!
                let dataset = try file.createFixedDataset(name, type: stringType.id, shape: [list.count])
                try dataset.writeStrings(list, rows: 0)
            }
        }
        for name in attributes.keys.sorted() {
            switch attributes[name]! {
            case .string(let s): try file.setAttribute(name, s)
            case .integer(let i): try file.setAttribute(name, i)
            case .real(let r): try file.setAttribute(name, r)
            }
        }
        try file.close()
    }

    /// Reads every dataset and root attribute of an HDF5 file.
    ///
    /// Float datasets of any precision are converted to float32 by HDF5 (exact for `<f4`);
    /// rank-1 variable-length string datasets become string lists.
    ///
    /// - Throws: `FeatureStoreError.missingFile`, `.notHDF5` (another kind of file),
    ///   `.unreadable` (truncated or corrupt), `.datasetType` for a dataset that is neither
    ///   floats nor strings (integers, compounds...), `.attributeType` for an attribute that is
    ///   not one string, integer or float, `.hdf5` with HDF5's error text.
    public static func read(from url: URL) throws(FeatureStoreError) -> ArrayFile {
        let file = try HDF5File.open(url.path)
        var contents = ArrayFile()
        for name in try file.datasetNames() {
            let dataset = try file.dataset(name)
            switch try dataset.elementClass() {
            case H5T_FLOAT:
                let (shape, values) = try dataset.readAllFloats()
                contents.arrays[name] = Floats(shape: shape, values: values)
            case H5T_STRING:
                let shape = try dataset.shape()
                guard shape.count == 1 else {
                    throw .datasetType(path: url.path, name: name, expected: "a rank-1 list of strings (it has shape \(shape))")
                }
                contents.strings[name] = try dataset.readStrings(rows: 0, count: shape[0])
            default:
                throw .datasetType(path: url.path, name: name, expected: "float32 values or variable-length UTF-8 strings")
            }
        }
        contents.attributes = try attributes(of: file, path: url.path)
        return contents
    }

    /// Reads only the root attributes: enough to tell what kind of file it is (a head file's
    /// `format`, a feature store's `magfleet_format`) before reading datasets that may not be
    /// floats or strings. Attributes that are not one string, integer or float are left out.
    ///
    /// - Throws: `FeatureStoreError.missingFile`, `.notHDF5`, `.unreadable`, `.hdf5`.
    public static func readAttributes(from url: URL) throws(FeatureStoreError) -> [String: Attribute] {
        let file = try HDF5File.open(url.path)
        var attributes: [String: Attribute] = [:]
        for name in try file.attributeNames() {
            if let value = try? attribute(name, of: file, path: url.path) { attributes[name] = value }
        }
        return attributes
    }

    private static func attributes(of file: HDF5File, path: String) throws(FeatureStoreError) -> [String: Attribute] {
        var attributes: [String: Attribute] = [:]
        for name in try file.attributeNames() { attributes[name] = try attribute(name, of: file, path: path) }
        return attributes
    }

    private static func attribute(_ name: String, of file: HDF5File, path: String) throws(FeatureStoreError) -> Attribute {
        let (typeClass, isSingle) = try file.attributeClass(name)
        let expected = "one string, integer or float"
        guard isSingle else { throw .attributeType(path: path, name: name, expected: expected) }
        switch typeClass {
        case H5T_STRING: return .string(try file.stringAttribute(name)!)
        case H5T_INTEGER: return .integer(try file.integerAttribute(name)!)
        case H5T_FLOAT: return .real(try file.realAttribute(name)!)
        default: throw .attributeType(path: path, name: name, expected: expected)
        }
    }
}
