internal import CZMQ
import Foundation

/// A CURVE key pair in Z85 text (40 characters each), as libzmq takes them.
public struct CurveKeyPair: Sendable, Equatable {
    public var publicKey: String
    public var secretKey: String

    public init(publicKey: String, secretKey: String) throws {
        try Self.validate(publicKey)
        try Self.validate(secretKey)
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A fresh random key pair (zmq_curve_keypair).
    public static func generate() throws -> CurveKeyPair {
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        try check(zmq_curve_keypair(&pub, &sec), "zmq_curve_keypair", "is libzmq built with CURVE?")
        return try CurveKeyPair(publicKey: cText(pub), secretKey: cText(sec))
    }

    static let z85Alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")

    /// Throws unless `key` is 40 characters of Z85.
    public static func validate(_ key: String) throws {
        guard key.count == 40, key.allSatisfy({ z85Alphabet.contains($0) }) else {
            throw ZeroMQError.invalidKey("expected 40 Z85 characters, got \(key.count): \(key.prefix(8))…")
        }
    }

    /// Decodes a Z85 public key to the 32 raw bytes ZAP reports.
    public static func rawBytes(ofZ85 key: String) throws -> [UInt8] {
        try validate(key)
        var out = [UInt8](repeating: 0, count: 32)
        guard zmq_z85_decode(&out, key) != nil else { throw ZeroMQError.invalidKey("zmq_z85_decode refused \(key.prefix(8))…") }
        return out
    }

    /// Encodes 32 raw key bytes as Z85.
    public static func z85(ofRaw bytes: [UInt8]) -> String {
        precondition(bytes.count == 32, "CURVE keys are 32 bytes")
        var out = [CChar](repeating: 0, count: 41)
        _ = zmq_z85_encode(&out, bytes, 32)
        return cText(out)
    }

    // MARK: Files

    /// Writes `NAME.key` (both keys, mode 0600) and `NAME.pub` (public key only).
    public func write(to base: String) throws {
        let secretText = """
            # magfleet CURVE key pair. SECRET: never share this file; share \(URL(fileURLWithPath: base).lastPathComponent).pub.
            public-key = \(publicKey)
            secret-key = \(secretKey)

            """
        let publicText = "# magfleet CURVE public key\npublic-key = \(publicKey)\n"
        let keyPath = base + ".key", pubPath = base + ".pub"
        guard FileManager.default.createFile(atPath: keyPath, contents: Data(secretText.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ZeroMQError.keyFile(path: keyPath, reason: "cannot create")
        }
        guard FileManager.default.createFile(atPath: pubPath, contents: Data(publicText.utf8)) else {
            throw ZeroMQError.keyFile(path: pubPath, reason: "cannot create")
        }
    }

    /// Reads a `.key` file written by `write(to:)`.
    public static func read(secretFile path: String) throws -> CurveKeyPair {
        let fields = try readFields(path)
        guard let pub = fields["public-key"], let sec = fields["secret-key"] else {
            throw ZeroMQError.keyFile(path: path, reason: "needs public-key and secret-key lines (write one with `magfleet keygen`)")
        }
        return try CurveKeyPair(publicKey: pub, secretKey: sec)
    }

    /// Reads a public key from a `.pub`/`.key` file, or takes `text` itself if it is a Z85 key.
    public static func readPublicKey(_ text: String) throws -> String {
        if (try? validate(text)) != nil { return text }
        guard let key = try readFields(text)["public-key"] else {
            throw ZeroMQError.keyFile(path: text, reason: "no public-key line")
        }
        try validate(key)
        return key
    }

    /// Public keys listed in an allowlist: a file with one Z85 key (or `public-key = KEY`) per
    /// line, `#` comments, or a directory of `.pub` files.
    public static func readAllowlist(_ path: String) throws -> Set<String> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ZeroMQError.keyFile(path: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue {
            let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".pub") }
            return Set(try names.map { try readPublicKey(path + "/" + $0) })
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ZeroMQError.keyFile(path: path, reason: "unreadable")
        }
        var keys = Set<String>()
        for raw in text.split(whereSeparator: \.isNewline) {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if let eq = line.firstIndex(of: "=") , line.hasPrefix("public-key") {
                line = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            }
            try validate(line)
            keys.insert(line)
        }
        return keys
    }

    static func readFields(_ path: String) throws -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ZeroMQError.keyFile(path: path, reason: "unreadable")
        }
        var fields: [String: String] = [:]
        for raw in text.split(whereSeparator: \.isNewline) where !raw.hasPrefix("#") {
            let parts = raw.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            fields[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }
}

/// The text of a NUL-terminated C buffer.
func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
