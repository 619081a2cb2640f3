/// One row of an image list, as `ListReader` yields it. docs/lists.md is the format's spec.
///
/// Every line that is neither blank nor a `#` comment is a row: its `index` is its row in the
/// store. A line that does not parse is still a row, with `problem` set; it becomes a failed
/// row of the run (category `malformed-line`), never a silently dropped line.
public struct ListEntry: Sendable, Equatable {
    /// The row: 0-based count of the non-blank, non-comment lines before this one.
    public var index: Int
    /// 1-based line number in the list file.
    public var line: Int
    /// The image path as written: relative to `--root` (joined by `ImageRoot.join`) or absolute.
    /// For a line that does not parse, its first field; one that is not UTF-8 text (or holds a
    /// NUL) with each offending byte written `\xHH` (`caf\xE9.jpg`), for messages and the store.
    public var path: String
    /// The label field as written; nil when the line has none. `LabelRule` turns it into an
    /// identity name or a distractor.
    public var labelToken: String?
    public var landmarks: Landmarks?
    /// Why the line cannot be used, or nil.
    public var problem: String?

    public init(index: Int, line: Int, path: String, labelToken: String? = nil, landmarks: Landmarks? = nil,
                problem: String? = nil) {
        self.index = index
        self.line = line
        self.path = path
        self.labelToken = labelToken
        self.landmarks = landmarks
        self.problem = problem
    }

    /// The entry as one list line (`path [label [x1 y1 ... x5 y5]]`), the inverse of parsing for
    /// a usable entry. An entry with landmarks and no label writes `-1` (a distractor) as its label.
    public var formatted: String {
        var fields = [path]
        if labelToken != nil || landmarks != nil { fields.append(labelToken ?? "-1") }
        if let landmarks { fields += landmarks.values.map { "\($0)" } }
        return fields.joined(separator: " ")
    }
}

/// Where list paths are found: the one rule that joins `--root` and a list path, used by
/// workers, by the coordinator when it ships or samples images, and by `images check`.
///
/// No root (nil or empty): the path as written. Otherwise `root/path`, for absolute paths as
/// well, so one list serves hosts that mount the same storage in different places.
public enum ImageRoot {
    public static func join(_ root: String?, _ path: String) -> String {
        guard let root, !root.isEmpty else { return path }
        switch (root.hasSuffix("/"), path.hasPrefix("/")) {
        case (true, true): return root + path.dropFirst()
        case (false, false): return root + "/" + path
        default: return root + path
        }
    }
}
