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
/// Labels number the identities in the order they first appear in the list, whatever their
/// names: MagFace's `path class_id` lists get the names "0", "7", ... (a list sorted by class id
/// 0..<N gets labels equal to its class ids). Memory is proportional to the identities, however
/// large an id is, and appending lines to a list never renumbers an existing identity.
public struct LabelTable: Sendable, Equatable {
    /// The name of label i at position i (a store's /label_names).
    public private(set) var names: [String] = []
    private var seen: [String: Int] = [:]

    public init() {}

    /// Builds the table over a sequence of identity names (nil: distractor), in list order.
    public init(identities: some Sequence<String?>) {
        for name in identities { add(name) }
    }

    /// Notes one row's identity (nil: a distractor), in list order.
    public mutating func add(_ name: String?) {
        guard let name, seen[name] == nil else { return }
        seen[name] = names.count
        names.append(name)
    }

    /// The label of an identity (-1 for nil, a distractor). A name the table never saw is -1 too.
    public func label(of name: String?) -> Int64 {
        guard let name, let label = seen[name] else { return -1 }
        return Int64(label)
    }
}
