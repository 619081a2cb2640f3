/// The one rule that gives a list row its identity (docs/lists.md, "Labels and distractors").
///
/// A row's identity is, in order:
/// 1. its label field: `-1` makes a distractor, anything else is the identity's name;
/// 2. with `fromFolders`, for a row without a label: its parent folder's name, unless a folder
///    on its path is named `distractors` or starts with `megaface` (any case): a distractor;
/// 3. otherwise a distractor (an unlabelled row).
public struct LabelRule: Sendable, Equatable {
    /// Name rows without a label field after their parent folder.
    public var fromFolders: Bool

    public init(fromFolders: Bool = false) { self.fromFolders = fromFolders }

    /// The identity name of a row with this path and label field, or nil for a distractor.
    public func identity(path: String, labelToken: String?) -> String? {
        if let labelToken { return labelToken == "-1" ? nil : labelToken }
        guard fromFolders else { return nil }
        let folders = path.split(separator: "/").dropLast()
        if folders.contains(where: Self.isDistractorFolder) { return nil }
        return folders.last.map(String.init)
    }

    public func identity(of entry: ListEntry) -> String? {
        entry.problem == nil ? identity(path: entry.path, labelToken: entry.labelToken) : nil
    }

    /// `distractors`, or a name starting with `megaface` (MegaFace's own folders), in any case.
    public static func isDistractorFolder(_ name: Substring) -> Bool {
        let lower = name.lowercased()
        return lower == "distractors" || lower.hasPrefix("megaface")
    }
}

/// The one label table: identity names to the integer labels a store records (distractors are
/// -1), the same for every command that reads a list (docs/lists.md).
///
/// When every identity name is a non-negative decimal integer (MagFace's `path class_id` lists),
/// the integers are the labels and `names[i]` is `"i"` for 0...max. Otherwise labels number the
/// names in order of first appearance. Both numberings keep every existing label when lines
/// are appended to a list, unless the appended lines turn an all-integer list into named one.
public struct LabelTable: Sendable, Equatable {
    /// The name of label i at position i (a store's /label_names).
    public var names: [String] { integers ? integerNames : firstSeen }
    private var firstSeen: [String] = []
    /// "0" ... "max" while every name is an integer.
    private var integerNames: [String] = []
    private var seen: [String: Int] = [:]
    private var integers = true

    public init() {}

    /// Builds the table over a sequence of identity names (nil: distractor), in list order.
    public init(identities: some Sequence<String?>) {
        for name in identities { add(name) }
    }

    /// Notes one row's identity (nil: a distractor), in list order.
    public mutating func add(_ name: String?) {
        guard let name, seen[name] == nil else { return }
        seen[name] = firstSeen.count
        firstSeen.append(name)
        if integers, let v = Self.nonNegativeInteger(name) {
            if v >= integerNames.count { integerNames += (integerNames.count...v).map(String.init) }
        } else if integers {
            integers = false
            integerNames = []
        }
    }

    /// The label of an identity (-1 for nil, a distractor). A name the table never saw is -1 too.
    public func label(of name: String?) -> Int64 {
        guard let name, let first = seen[name] else { return -1 }
        return integers ? Int64(Self.nonNegativeInteger(name)!) : Int64(first)
    }

    /// A canonical decimal integer below 2^24 ("007" is a name, not 7; a larger one is a name too).
    static func nonNegativeInteger(_ s: String) -> Int? {
        guard let v = Int32(s), v >= 0, v < 1 << 24, String(v) == s else { return nil }
        return Int(v)
    }
}
