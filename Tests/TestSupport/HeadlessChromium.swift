import Foundation

/// Debian's `chromium`, headless: loads a page (scripts, images, layout) and returns its DOM
/// as the page's scripts left it, so that a test can check what a reader would see.
public enum HeadlessChromium {
    /// The browser, or nil where the Debian package chromium is not installed.
    public static var path: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The DOM of `page` (a file URL) once it has loaded, images included; `profile` is a
    /// scratch directory for the browser's profile.
    public static func dumpDOM(_ page: URL, profile: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path ?? "/usr/bin/chromium")
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                             "--user-data-dir=\(profile.path)", "--dump-dom", page.absoluteString]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let dom = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return dom
    }

    /// The text a reader sees in `dom`: tags, scripts and styles removed, entities decoded.
    public static func visibleText(_ dom: String) -> String {
        var text = dom.replacing(/<(script|style)[^>]*>[\s\S]*?<\/\1>/, with: "")
        text = text.replacing(/<[^>]+>/, with: " ")
        for (entity, ch) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&larr;", "←"), ("&amp;", "&")] {
            text = text.replacingOccurrences(of: entity, with: ch)
        }
        return text
    }
}
