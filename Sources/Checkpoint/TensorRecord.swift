/// Element types a PyTorch storage can hold. Only the floating ones convert to Float.
public enum DType: String, Sendable, CaseIterable {
    case float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }
}

/// A tensor described by a checkpoint, without its data: which storage, where, what shape.
/// Reading the data is `Checkpoint.floats(_:)`; until then not a byte of it is touched.
public struct TensorRecord: Sendable, Equatable {
    public var dtype: DType
    /// The tensor's size, outermost first.
    public var shape: [Int]
    /// Element strides per dimension (PyTorch's `stride()`).
    public var strides: [Int]
    /// Offset of element [0, 0, …] into the storage, in elements.
    public var storageOffset: Int
    /// The storage's key in the file (`data/<key>` in a zip, the root key in legacy files).
    public var storageKey: String
    /// Elements in the whole storage.
    public var storageElements: Int

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
}
