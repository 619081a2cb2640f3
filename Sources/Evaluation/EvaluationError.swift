/// Everything that can go wrong while reducing a feature table to a report.
public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    /// The table's arrays disagree in length or dimension.
    case malformedTable(String)
    /// A metric needs pairs (or rows) of a kind the table does not have.
    case notEnoughData(String)
    /// A file could not be read or parsed.
    case badFile(path: String, reason: String)
    /// An option is out of range.
    case badOption(String)
    /// Classification head weights whose arrays disagree with its dimensions.
    case malformedHead(String)

    public var description: String {
        switch self {
        case .malformedTable(let why): return "malformed feature table: \(why)"
        case .notEnoughData(let why): return "not enough data: \(why)"
        case .badFile(let path, let reason): return "\(path): \(reason)"
        case .badOption(let why): return "bad option: \(why)"
        case .malformedHead(let why): return "malformed classification head: \(why)"
        }
    }
}
