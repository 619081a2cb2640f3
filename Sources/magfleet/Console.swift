import Foundation

/// Terminal output for the commands: results go to stdout, diagnostics to stderr.
enum Console {
    /// Writes one line to standard error.
    static func error(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// Prints `value` as pretty, key-sorted JSON: the `--json` output of every command.
    static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Whether standard output is a terminal (progress bars only draw on one).
    static var isTerminal: Bool { isatty(STDOUT_FILENO) != 0 }
}
