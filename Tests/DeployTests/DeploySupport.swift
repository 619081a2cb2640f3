import Foundation
import TestSupport

/// The repository's Deploy/ directory, found from this source file (tests run from the tree).
enum DeployTree {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let deploy = repository.appendingPathComponent("Deploy")

    /// Every regular file under Deploy/, as paths relative to the repository, sorted.
    static var files: [String] {
        let root = repository.path + "/"
        let walker = FileManager.default.enumerator(atPath: deploy.path)
        var out: [String] = []
        while let relative = walker?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let path = deploy.path + "/" + relative
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                out.append(String(path.dropFirst(root.count)))
            }
        }
        return out.sorted()
    }

    /// Shell scripts: a .sh or .sbatch name, or a `#!` line naming sh or bash.
    static var shellScripts: [String] {
        files.filter { path in
            if path.hasSuffix(".sh") || path.hasSuffix(".sbatch") { return true }
            guard let text = try? String(contentsOfFile: repository.path + "/" + path, encoding: .utf8),
                  let first = text.split(separator: "\n", maxSplits: 1).first, first.hasPrefix("#!") else { return false }
            return first.hasSuffix("/sh") || first.hasSuffix("bash") || first.hasSuffix(" sh")
        }
    }

    static var yamlFiles: [String] { files.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") } }
}

/// A finished child process.
struct Finished {
    var status: Int32
    var stdout: String
    var stderr: String
    var output: String { stdout + stderr }
}

struct CommandTimedOut: Error, CustomStringConvertible {
    var command: [String]
    var seconds: Double
    var description: String { "\(command.joined(separator: " ")) ran past \(seconds) s" }
}

/// Runs `executable arguments` with a time bound (killed past it), collecting its output.
func runCommand(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                directory: String? = nil, timeout: Double = 30) throws -> Finished {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (key, value) in environment { env[key] = value }
    process.environment = env
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let outPipe = Pipe(), errPipe = Pipe()
    process.standardOutput = outPipe
    process.standardError = errPipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let outData = Locked(Data()), errData = Locked(Data())
    let group = DispatchGroup()
    for (pipe, sink) in [(outPipe, outData), (errPipe, errData)] {
        group.enter()
        DispatchQueue.global().async {
            sink.set(pipe.fileHandleForReading.readDataToEndOfFile())
            group.leave()
        }
    }
    if group.wait(timeout: .now() + timeout) == .timedOut {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw CommandTimedOut(command: [executable] + arguments, seconds: timeout)
    }
    process.waitUntilExit()
    return Finished(status: process.terminationStatus,
                    stdout: String(decoding: outData.get(), as: UTF8.self),
                    stderr: String(decoding: errData.get(), as: UTF8.self))
}

/// The absolute path of `name` on PATH, nil when absent.
func which(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// The long options a magfleet subcommand accepts, from its real `--help` output.
enum MagfleetFlags {
    private static let cache = Locked([String: Set<String>]())

    /// - Parameter subcommand: e.g. "worker" or "pairs make".
    static func accepted(by subcommand: String) throws -> Set<String> {
        if let known = cache.get()[subcommand] { return known }
        let words = subcommand.split(separator: " ").map(String.init)
        let help = try MagfleetProcess.run(words + ["--help"], timeout: 30)
        guard help.status == 0 else {
            throw DeployCheckFailure("magfleet \(subcommand) --help exited \(help.status): \(help.stderr)")
        }
        let flags = longOptions(in: help.stdout)
        var all = cache.get()
        all[subcommand] = flags
        cache.set(all)
        return flags
    }

    /// `--name` tokens of a help text (`--[no-]progress` gives both forms).
    static func longOptions(in help: String) -> Set<String> {
        var flags: Set<String> = []
        let regex = try! NSRegularExpression(pattern: "--(\\[no-\\])?([a-z0-9][a-z0-9-]*)")
        let range = NSRange(help.startIndex..., in: help)
        for match in regex.matches(in: help, range: range) {
            let name = String(help[Range(match.range(at: 2), in: help)!])
            flags.insert("--" + name)
            if match.range(at: 1).location != NSNotFound { flags.insert("--no-" + name) }
        }
        return flags
    }

    /// The `--flag` names in an argument list (`--a=b` gives `--a`; `--` alone ends options).
    static func used(in arguments: [String]) -> [String] {
        var out: [String] = []
        for argument in arguments {
            if argument == "--" { break }
            guard argument.hasPrefix("--") else { continue }
            out.append(String(argument.split(separator: "=", maxSplits: 1)[0]))
        }
        return out
    }
}

struct DeployCheckFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
