/// Everything that can go wrong reading or writing a checkpoint, with the context a user needs.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened or mapped.
    case io(path: String, reason: String)
    /// Neither a zip archive nor a legacy pickle stream.
    case notACheckpoint(path: String, reason: String)
    /// The file ends before a structure it announces.
    case truncated(path: String, reason: String)
    /// A zip entry is compressed; PyTorch stores entries uncompressed, so this file was repacked.
    case compressedEntry(path: String, entry: String, method: Int)
    /// The pickle names a global outside the whitelist; nothing from the file is executed.
    case unknownGlobal(path: String, name: String)
    /// The pickle uses an opcode outside the whitelist, or is malformed.
    case badPickle(path: String, reason: String)
    /// The file is a checkpoint but does not hold a state dict in a known layout.
    case noStateDict(path: String, reason: String)
    /// A tensor's storage is missing from the file.
    case missingStorage(path: String, key: String)
    /// A tensor has a dtype the engine does not convert (only float32, float16, bfloat16).
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A tensor's view reaches outside its storage.
    case tensorOutOfBounds(path: String, tensor: String)

    public var description: String {
        switch self {
        case let .io(path, reason): return "\(path): cannot read: \(reason)"
        case let .notACheckpoint(path, reason): return "\(path): not a PyTorch checkpoint: \(reason)"
        case let .truncated(path, reason): return "\(path): truncated file: \(reason)"
        case let .compressedEntry(path, entry, method):
            return "\(path): zip entry '\(entry)' is compressed (method \(method)); PyTorch writes entries stored (method 0). Re-save the checkpoint with torch.save instead of repacking the zip"
        case let .unknownGlobal(path, name):
            return "\(path): the pickle references '\(name)', which is not on the whitelist of globals a checkpoint may use; refusing to load it"
        case let .badPickle(path, reason): return "\(path): unsupported or malformed pickle: \(reason)"
        case let .noStateDict(path, reason): return "\(path): no state dict found: \(reason)"
        case let .missingStorage(path, key): return "\(path): storage '\(key)' is referenced but not present in the file"
        case let .unsupportedDType(path, tensor, dtype):
            return "\(path): tensor '\(tensor)' has dtype \(dtype); only float32, float16 and bfloat16 are supported"
        case let .tensorOutOfBounds(path, tensor): return "\(path): tensor '\(tensor)' reaches past the end of its storage"
        }
    }
}
