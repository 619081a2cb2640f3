import Foundation

/// The text form of `magfleet query --queries FILE`: one query per line, either `D` numbers
/// separated by spaces, tabs or commas (a vector), `#ROW` (a stored row), or a stored path.
/// Blank lines are skipped.
public enum QueryFile {
    public enum Query: Equatable, Sendable {
        case vector([Float])
        case row(Int)
        case path(String)
    }

    /// One query with its 1-based line number.
    public struct Line: Equatable, Sendable {
        public var number: Int
        public var text: String
        public var query: Query
    }

    /// Parses `text` for a store of dimension `dim`: a line of exactly `dim` numbers is a
    /// vector, `#N` a row, anything else a path.
    public static func parse(_ text: String, dim: Int) -> [Line] {
        var lines: [Line] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let query: Query
            if let v = vector(Substring(line), dim: dim) {
                query = .vector(v)
            } else if line.hasPrefix("#"), let row = Int(line.dropFirst()) {
                query = .row(row)
            } else {
                query = .path(line)
            }
            lines.append(Line(number: n + 1, text: line, query: query))
        }
        return lines
    }

    /// `dim` numbers separated by commas, spaces or tabs, or nil.
    public static func vector(_ text: Substring, dim: Int) -> [Float]? {
        let fields = text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" })
        let values = fields.compactMap { Float($0) }
        return values.count == fields.count && values.count == dim ? values : nil
    }
}
