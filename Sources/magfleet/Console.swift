import Foundation

/// Terminal output for the commands: results go to stdout, diagnostics to stderr.
enum Console {
    /// Writes one line to standard error.
    static func error(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// Whether standard output is a terminal (progress bars only draw on one).
    static var isTerminal: Bool { isatty(STDOUT_FILENO) != 0 }
}
