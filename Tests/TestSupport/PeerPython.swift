import Foundation

/// The python with h5py and numpy that checks files magfleet writes: $MAGFLEET_PEER_PYTHON,
/// else python3, else the fixture venv (/opt/fxvenv); nil when none imports h5py.
public enum PeerPython {
    public static let path: String? = {
        var candidates = ["python3", "/opt/fxvenv/bin/python"]
        if let configured = ProcessInfo.processInfo.environment["MAGFLEET_PEER_PYTHON"] { candidates.insert(configured, at: 0) }
        return candidates.first { (try? run($0, script: "import h5py, numpy", arguments: []))?.status == 0 }
    }()

    /// Runs `script` with `python`, returning its status and stdout (stderr appended on failure).
    public static func run(_ python: String, script: String, arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", script] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        return (process.terminationStatus, process.terminationStatus == 0 ? text : text + String(decoding: errors, as: UTF8.self))
    }
}
