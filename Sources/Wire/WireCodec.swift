import Foundation
import SwiftProtobuf

// Short names for the generated messages (magfleet.pb.swift, from Protocols/magfleet.proto).
public typealias Envelope = Magfleet_Wire_V2_Envelope
public typealias Hello = Magfleet_Wire_V2_Hello
public typealias Heartbeat = Magfleet_Wire_V2_Heartbeat
public typealias Welcome = Magfleet_Wire_V2_Welcome
public typealias Refuse = Magfleet_Wire_V2_Refuse
public typealias Item = Magfleet_Wire_V2_Item
public typealias Assign = Magfleet_Wire_V2_Assign
public typealias Failure = Magfleet_Wire_V2_Failure
public typealias ShardResultMessage = Magfleet_Wire_V2_Result
public typealias Release = Magfleet_Wire_V2_Release
public typealias Bye = Magfleet_Wire_V2_Bye
public typealias Reset = Magfleet_Wire_V2_Reset
public typealias Finished = Magfleet_Wire_V2_Finished
public typealias StatusRequest = Magfleet_Wire_V2_StatusRequest
public typealias StatusReply = Magfleet_Wire_V2_StatusReply
public typealias WorkerStatus = Magfleet_Wire_V2_WorkerStatus
public typealias WireModelInfo = Magfleet_Wire_V2_ModelInfo
public typealias Drain = Magfleet_Wire_V2_Drain
public typealias Progress = Magfleet_Wire_V2_Progress
public typealias Revoke = Magfleet_Wire_V2_Revoke
public typealias LeaseRef = Magfleet_Wire_V2_LeaseRef
public typealias LeaseCounters = Magfleet_Wire_V2_LeaseCounters
public typealias ReleaseKind = Magfleet_Wire_V2_ReleaseKind

/// Why a frame was not a message this side accepts.
public enum WireError: Error, CustomStringConvertible, Equatable {
    case oversized(bytes: Int, limit: Int)
    case malformed(String)
    case unsupportedVersion(UInt32)
    case emptyBody

    public var description: String {
        switch self {
        case let .oversized(bytes, limit): return "message of \(bytes) bytes exceeds the \(limit)-byte limit"
        case let .malformed(reason): return "malformed message: \(reason)"
        case let .unsupportedVersion(v): return "protocol version \(v) is not supported (this side speaks \(WireCodec.protocolVersion))"
        case .emptyBody: return "message has no body (unknown message type?)"
        }
    }
}

/// Encodes and decodes one-frame `Envelope` messages (see Protocols/README.md).
public enum WireCodec {
    /// The protocol version this build speaks.
    public static let protocolVersion: UInt32 = 2
    /// Default limit on one inbound frame: 64 MiB (a shipped shard of images fits).
    public static let defaultMaxBytes = 64 << 20

    /// Wraps a body in an Envelope stamped with the current version.
    public static func envelope(_ body: Envelope.OneOf_Body) -> Envelope {
        var e = Envelope()
        e.protocolVersion = protocolVersion
        e.body = body
        return e
    }

    public static func encode(_ envelope: Envelope) -> [UInt8] {
        // serializedBytes cannot fail for a message with only proto3 scalars, strings, bytes
        // and sub-messages (no required fields); a failure is a broken invariant.
        guard let bytes: [UInt8] = try? envelope.serializedBytes() else {
            preconditionFailure("protobuf serialization of a complete Envelope failed")
        }
        return bytes
    }

    /// Decodes one frame. Throws WireError for oversized, unparsable, version-mismatched or
    /// bodiless (e.g. a newer message type) frames. Hello of another version is returned so
    /// that the coordinator can refuse it with a reason; check `protocolVersion` there.
    public static func decode(_ bytes: [UInt8], maxBytes: Int = defaultMaxBytes) throws -> Envelope {
        guard bytes.count <= maxBytes else { throw WireError.oversized(bytes: bytes.count, limit: maxBytes) }
        let envelope: Envelope
        do {
            envelope = try Envelope(serializedBytes: bytes)
        } catch {
            throw WireError.malformed(String(describing: error))
        }
        guard let body = envelope.body else { throw WireError.emptyBody }
        if envelope.protocolVersion != protocolVersion {
            if case .hello = body { return envelope }
            throw WireError.unsupportedVersion(envelope.protocolVersion)
        }
        return envelope
    }
}

extension ShardResultMessage {
    /// Packs rows of `dim` float32 values (row-major) as `embeddings`: little-endian, the one
    /// encoding of the protocol (Protocols/README.md, section 7.5).
    public mutating func setEmbeddings(_ values: some Collection<Float>) {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 4)
        for x in values { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 } }
        embeddings = Data(bytes)
    }

    /// The embedding of `indices[r]`, decoded from `embeddings`; nil when the byte count is not
    /// `indices.count * dim * 4`.
    public func embeddingRows(dim: Int) -> [[Float]]? {
        guard dim > 0, embeddings.count == indices.count * dim * 4 else { return nil }
        return embeddings.withUnsafeBytes { raw in
            (0..<indices.count).map { r in
                (0..<dim).map { j in
                    Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: (r * dim + j) * 4, as: UInt32.self)))
                }
            }
        }
    }
}

extension Envelope {
    /// A short name of the body for logs.
    public var kind: String {
        switch body {
        case .hello: return "Hello"
        case .heartbeat: return "Heartbeat"
        case .result: return "Result"
        case .release: return "Release"
        case .bye: return "Bye"
        case .statusRequest: return "StatusRequest"
        case .welcome: return "Welcome"
        case .refuse: return "Refuse"
        case .assign: return "Assign"
        case .reset: return "Reset"
        case .finished: return "Finished"
        case .statusReply: return "StatusReply"
        case .drain: return "Drain"
        case .progress: return "Progress"
        case .revoke: return "Revoke"
        case nil: return "Empty"
        }
    }
}

extension LeaseRef {
    public init(first: UInt64, count: UInt32, attempt: UInt32) {
        self.init()
        shardFirst = first
        shardCount = count
        self.attempt = attempt
    }
}

