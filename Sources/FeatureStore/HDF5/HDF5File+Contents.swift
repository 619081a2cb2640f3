internal import CHDF5
import Foundation

// Whole-file access for small files (ArrayFile): fixed-shape datasets created with their
// groups, whole-dataset reads and writes of any rank, the list of every dataset, and root
// attributes of every kind.

extension HDF5File {
    /// Creates a contiguous dataset of exactly `shape` (rank 0 is a scalar), creating the
    /// groups named in `name` ("fc1/weight" creates the group fc1).
    func createFixedDataset(_ name: String, type: hid_t, shape: [Int]) throws(FeatureStoreError) -> HDF5Dataset {
        let space = shape.isEmpty ? try HDF5Dataspace.scalar(path: path) : try HDF5Dataspace.simple(shape, path: path)
        let links = HDF5PropertyList(try HDF5.check(H5Pcreate(magfleet_H5P_LINK_CREATE()), "H5Pcreate", path: path))
        try HDF5.check(H5Pset_create_intermediate_group(links.id, 1), "H5Pset_create_intermediate_group", path: path)
        let id = H5Dcreate2(self.id, name, type, space.id, links.id, magfleet_H5P_DEFAULT(), magfleet_H5P_DEFAULT())
        return adopt(HDF5Dataset(id: try HDF5.check(id, "H5Dcreate2(\(name))", path: path), name: name, path: path))
    }

    /// The full names ("fc1/weight") of every dataset under the root group, groups walked
    /// depth-first in name order.
    func datasetNames() throws(FeatureStoreError) -> [String] {
        var names: [String] = []
        try collectDatasets(in: id, prefix: "", into: &names)
        return names
    }

    private func collectDatasets(in group: hid_t, prefix: String, into names: inout [String]) throws(FeatureStoreError) {
        var info = H5G_info_t()
        try HDF5.check(H5Gget_info(group, &info), "H5Gget_info(\(prefix.isEmpty ? "/" : prefix))", path: path)
        for index in 0..<info.nlinks {
            let length = try HDF5.check(
                H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, magfleet_H5P_DEFAULT()),
                "H5Lget_name_by_idx", path: path)
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            try HDF5.check(
                H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, magfleet_H5P_DEFAULT()),
                "H5Lget_name_by_idx", path: path)
            let link = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let full = prefix.isEmpty ? link : prefix + "/" + link
            let object = try HDF5.check(H5Oopen(group, link, magfleet_H5P_DEFAULT()), "H5Oopen(\(full))", path: path)
            defer { H5Oclose(object) }
            switch H5Iget_type(object) {
            case H5I_GROUP: try collectDatasets(in: object, prefix: full, into: &names)
            case H5I_DATASET: names.append(full)
            default: break  // named datatypes: not data
            }
        }
    }

    /// Writes a scalar float64 attribute (h5py reads a numpy float64).
    func setAttribute(_ name: String, _ value: Double) throws(FeatureStoreError) {
        if hasAttribute(name) { try HDF5.check(H5Adelete(id, name), "H5Adelete(\(name))", path: path) }
        let space = try HDF5Dataspace.scalar(path: path)
        let attribute = HDF5Attribute(try HDF5.check(
            H5Acreate2(id, name, magfleet_H5T_IEEE_F64LE(), space.id, magfleet_H5P_DEFAULT(), magfleet_H5P_DEFAULT()),
            "H5Acreate2(\(name))", path: path))
        var v = value
        try HDF5.check(H5Awrite(attribute.id, magfleet_H5T_NATIVE_DOUBLE(), &v), "H5Awrite(\(name))", path: path)
    }

    /// The names of the root group's attributes, in name order.
    func attributeNames() throws(FeatureStoreError) -> [String] {
        final class Sink { var names: [String] = [] }
        let sink = Sink()
        let status = withExtendedLifetime(sink) {
            H5Aiterate2(id, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, _, context in
                Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue().names.append(String(cString: name!))
                return 0
            }, Unmanaged.passUnretained(sink).toOpaque())
        }
        try HDF5.check(status, "H5Aiterate2", path: path)
        return sink.names
    }

    /// The element class of a root attribute (H5T_STRING, H5T_INTEGER, H5T_FLOAT...), and
    /// whether it holds one value (a scalar or a one-element array).
    func attributeClass(_ name: String) throws(FeatureStoreError) -> (typeClass: H5T_class_t, isSingle: Bool) {
        let attribute = HDF5Attribute(try HDF5.check(H5Aopen(id, name, magfleet_H5P_DEFAULT()), "H5Aopen(\(name))", path: path))
        let type = HDF5Type(try HDF5.check(H5Aget_type(attribute.id), "H5Aget_type(\(name))", path: path))
        let space = HDF5Dataspace(try HDF5.check(H5Aget_space(attribute.id), "H5Aget_space(\(name))", path: path))
        let points = try HDF5.check(H5Sget_simple_extent_npoints(space.id), "H5Sget_simple_extent_npoints(\(name))", path: path)
        return (type.typeClass, points == 1)
    }

    /// Reads a floating-point attribute as float64; nil when absent.
    func realAttribute(_ name: String) throws(FeatureStoreError) -> Double? {
        guard hasAttribute(name) else { return nil }
        let attribute = HDF5Attribute(try HDF5.check(H5Aopen(id, name, magfleet_H5P_DEFAULT()), "H5Aopen(\(name))", path: path))
        let type = HDF5Type(try HDF5.check(H5Aget_type(attribute.id), "H5Aget_type(\(name))", path: path))
        guard type.typeClass == H5T_FLOAT else { throw .attributeType(path: path, name: name, expected: "a float") }
        var value = 0.0
        try HDF5.check(H5Aread(attribute.id, magfleet_H5T_NATIVE_DOUBLE(), &value), "H5Aread(\(name))", path: path)
        return value
    }
}

extension HDF5Dataset {
    /// Writes the whole dataset from `values` (row-major; as many elements as the shape holds).
    func writeAll(_ values: [Float]) throws(FeatureStoreError) {
        _ = try values.withUnsafeBufferPointer { (buffer) throws(FeatureStoreError) in
            try HDF5.check(
                H5Dwrite(id, magfleet_H5T_NATIVE_FLOAT(), magfleet_H5S_ALL(), magfleet_H5S_ALL(), magfleet_H5P_DEFAULT(), buffer.baseAddress),
                "H5Dwrite(\(name))", path: path)
        }
    }

    /// Reads the whole dataset, converted by HDF5 to float32 (row-major), with its shape.
    func readAllFloats() throws(FeatureStoreError) -> (shape: [Int], values: [Float]) {
        let shape = try shape()
        var values = [Float](repeating: 0, count: shape.reduce(1, *))
        if values.isEmpty { return (shape, values) }
        _ = try values.withUnsafeMutableBufferPointer { (buffer) throws(FeatureStoreError) in
            try HDF5.check(
                H5Dread(id, magfleet_H5T_NATIVE_FLOAT(), magfleet_H5S_ALL(), magfleet_H5S_ALL(), magfleet_H5P_DEFAULT(), buffer.baseAddress),
                "H5Dread(\(name))", path: path, dataset: name)
        }
        return (shape, values)
    }

    /// The stored element class (H5T_FLOAT, H5T_STRING...).
    func elementClass() throws(FeatureStoreError) -> H5T_class_t { try type().typeClass }
}
