import FeatureStore
import Foundation
import Hummingbird
import NIOCore

/// A request the API refuses: its status and the reason, sent as `{"error": reason}`.
struct APIError: Error {
    var status: HTTPResponse.Status
    var reason: String
    init(_ status: HTTPResponse.Status, _ reason: String) {
        self.status = status
        self.reason = reason
    }
}

/// The JSON endpoints of Protocols/openapi.yaml over a `SearchService`.
struct API: Sendable {
    let service: SearchService
    let maxBody: Int

    // MARK: Responses

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        do {
            let data = try encoder.encode(value)
            return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        } catch {
            return Self.error(.internalServerError, "cannot encode the answer: \(error)")
        }
    }

    static func error(_ status: HTTPResponse.Status, _ reason: String) -> Response {
        json(["error": reason], status: status)
    }

    static func response(for error: Error) -> Response {
        switch error {
        case let e as APIError: Self.error(e.status, e.reason)
        case let e as FeatureStoreError: Self.error(.badRequest, e.description)
        default: Self.error(.internalServerError, "\(error)")
        }
    }

    func respond(_ body: () throws -> some Encodable) -> Response {
        do { return Self.json(try body()) } catch { return Self.response(for: error) }
    }

    func respondAsync(_ body: () async throws -> some Encodable) async -> Response {
        do { return Self.json(try await body()) } catch { return Self.response(for: error) }
    }

    // MARK: GET /info

    struct Info: Encodable {
        var store: String
        var rows: Int
        var okRows: Int
        var failedRows: Int
        var dim: Int
        var mapped: Bool
        var loadSeconds: Double
        var provenance: Provenance
        var norms: Norms?
        var labels: Int
        var failureCategories: [Category]
        var imageSearch: Bool
        var thumbnails: Bool
        var searches: Searches
    }
    struct Provenance: Encodable {
        var modelFingerprint, architecture, preprocessingPreset, imageListSha256, toolVersion, createdAt: String
        var flip, randomWeights: Bool
    }
    struct Norms: Encodable { var min, p05, p50, p95, max: Float }
    struct Category: Encodable { var category: String; var count: Int }
    struct Searches: Encodable { var scans: Int; var queries: Int }

    func info() throws -> Info {
        let p = service.provenance, c = service.catalog, q = c.normQuantiles
        let stats = service.batcher.statistics
        return Info(
            store: service.store, rows: c.count, okRows: c.okCount, failedRows: c.failedCount, dim: service.index.dim,
            mapped: service.index.isMapped, loadSeconds: service.loadSeconds,
            provenance: Provenance(modelFingerprint: p.modelFingerprint, architecture: p.architecture, preprocessingPreset: p.preprocessingPreset,
                                   imageListSha256: p.imageListSHA256, toolVersion: p.toolVersion, createdAt: p.createdAt,
                                   flip: p.flip, randomWeights: p.randomWeights),
            norms: q.count == 5 ? Norms(min: q[0], p05: q[1], p50: q[2], p95: q[3], max: q[4]) : nil,
            labels: p.labelNames.count,
            failureCategories: c.categories.map { Category(category: $0.category, count: $0.count) },
            imageSearch: service.embedder != nil, thumbnails: service.imageRoot != nil,
            searches: Searches(scans: stats.scans, queries: stats.queries))
    }

    // MARK: POST /search

    /// A label filter entry: a name from /label_names or an id.
    struct LabelRef: Decodable {
        var text: String
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let i = try? c.decode(Int64.self) { text = String(i) } else { text = try c.decode(String.self) }
        }
    }

    struct SearchRequest: Decodable {
        var path: String?
        var row: Int?
        var vector: [Float]?
        var vectors: [[Float]]?
        var image: String?
        var top: Int?
        var minNorm: Float?
        var labels: [LabelRef]?
        var includeSelf: Bool?
    }

    struct SearchResponse: Encodable {
        var results: [QueryResult]
        var tookMs: Double
    }
    struct QueryResult: Encodable {
        var query: String
        var row: Int?
        var path: String?
        var neighbors: [NeighborJSON]
    }
    struct NeighborJSON: Encodable {
        var row: Int
        var path: String
        var label: Int64
        var labelName: String?
        var score: Float
        var norm: Float
    }

    func search(_ body: Data) async throws -> SearchResponse {
        let started = DispatchTime.now()
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let request: SearchRequest
        do { request = try decoder.decode(SearchRequest.self, from: body) } catch {
            let text = String(decoding: body.prefix(1 << 16), as: UTF8.self)
            if text.contains("NaN") || text.contains("Infinity") {
                throw APIError(.badRequest, "vector values must be finite numbers (NaN and Infinity are not)")
            }
            throw APIError(.badRequest, "the body is not a search request in JSON: \(Self.describe(error))")
        }
        let index = service.index, d = index.dim
        let sources = [request.path != nil, request.row != nil, request.vector != nil, request.vectors != nil, request.image != nil].filter { $0 }.count
        guard sources == 1 else { throw APIError(.badRequest, "give exactly one of path, row, vector, vectors, image") }
        let top = request.top ?? 10
        guard (1...Self.maxTopValue).contains(top) else { throw APIError(.badRequest, "top must be 1...\(Self.maxTopValue), not \(top)") }
        if let minNorm = request.minNorm, !minNorm.isFinite { throw APIError(.badRequest, "min_norm must be a finite number") }
        var labels: Set<Int64>?
        if let refs = request.labels {
            labels = Set(try refs.map { ref in
                guard let id = service.labelID(ref.text) else {
                    throw APIError(.badRequest, "label \(ref.text.debugDescription) is neither a name in /label_names nor an id")
                }
                return id
            })
        }
        var vectors: [Float] = [], names: [String] = [], rows: [Int?] = [], paths: [String?] = []
        func stored(_ position: Int, _ name: String) {
            vectors += index.unitEmbedding(at: position)
            let row = index.row(at: position)
            names.append(name); rows.append(row); paths.append(index.path(at: position))
        }
        if let path = request.path {
            guard let position = index.position(ofPath: path) else { throw APIError(.notFound, notFound(path: path)) }
            stored(position, path)
        } else if let row = request.row {
            guard row >= 0, row < service.catalog.count else { throw APIError(.notFound, "row \(row) is not in the store (0..<\(service.catalog.count))") }
            guard let position = index.position(ofRow: row) else {
                throw APIError(.notFound, "row \(row) is a failed row (\(service.catalog.failure(ofRow: row)?.reason ?? "")): it has no embedding")
            }
            stored(position, "#\(row)")
        } else if let image = request.image {
            guard let bytes = Data(base64Encoded: image, options: .ignoreUnknownCharacters), !bytes.isEmpty else {
                throw APIError(.badRequest, "image must be the file's bytes in base64")
            }
            guard Self.looksLikeImage(bytes) else { throw APIError(.unsupportedMediaType, "the upload is not a JPEG or PNG image") }
            guard let embedder = service.embedder else { throw APIError(.badRequest, "search by image needs the server started with --model") }
            let embedding: [Float]
            do { embedding = try await Self.offload { try embedder.embed(Array(bytes)) } } catch {
                throw APIError(.unprocessableContent, "\(error)")
            }
            vectors = embedding; names = ["image"]; rows = [nil]; paths = [nil]
        } else {
            let given = request.vector.map { [$0] } ?? request.vectors!
            guard !given.isEmpty, given.count <= Self.maxQueries else { throw APIError(.badRequest, "vectors must hold 1...\(Self.maxQueries) vectors, not \(given.count)") }
            for (i, v) in given.enumerated() {
                guard v.count == d else { throw APIError(.badRequest, "vector \(i) has \(v.count) values, the store's dim is \(d)") }
                guard v.allSatisfy(\.isFinite) else { throw APIError(.badRequest, "vector \(i) has a value that is not a finite float32") }
                guard v.contains(where: { $0 != 0 }) else { throw APIError(.badRequest, "vector \(i) is all zeros: it has no direction") }
                vectors += v; names.append(given.count == 1 ? "vector" : "vector[\(i)]"); rows.append(nil); paths.append(nil)
            }
        }
        let filter = NeighborFilter(minNorm: request.minNorm, labels: labels)
        let excluding = request.includeSelf == true || rows.allSatisfy({ $0 == nil }) ? [] : rows
        let results = try await service.batcher.search(vectors, top: top, filter: filter, excluding: excluding)
        let answers = results.enumerated().map { q, neighbors in
            QueryResult(query: names[q], row: rows[q], path: paths[q], neighbors: neighbors.map {
                NeighborJSON(row: $0.row, path: $0.path, label: $0.label, labelName: $0.labelName, score: $0.score, norm: $0.norm)
            })
        }
        return SearchResponse(results: answers, tookMs: Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6)
    }

    static var maxTopValue: Int { SearchServer.maxTop }
    static var maxQueries: Int { SearchServer.maxQueries }

    /// Runs `work` on a global queue (a model forward takes a core for a while).
    static func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    static func looksLikeImage(_ bytes: Data) -> Bool {
        bytes.starts(with: [0xFF, 0xD8, 0xFF]) || bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
             let DecodingError.keyNotFound(_, context), let DecodingError.dataCorrupted(context):
            let at = context.codingPath.map(\.stringValue).joined(separator: ".")
            return at.isEmpty ? context.debugDescription : "\(at): \(context.debugDescription)"
        default: return "\(error)"
        }
    }

    /// Why a path has no embedding: a failed row, or not in the store.
    func notFound(path: String) -> String {
        for f in service.catalog.failures where service.index.storedPath(ofRow: f.row) == path {
            return "path \(path.debugDescription) is row \(f.row), a failed row (\(f.reason)): it has no embedding"
        }
        return "path \(path.debugDescription) is not in the store; stored paths are as the image list gives them, relative to its root"
    }

    // MARK: GET /rows/{i}

    struct RowJSON: Encodable {
        var row: Int
        var path: String
        var label: Int64
        var labelName: String?
        var norm: Float
        var status: String
        var category: String?
        var reason: String?
    }

    func rowJSON(_ row: Int) -> RowJSON {
        let label = service.index.storedLabel(ofRow: row)
        let failure = service.catalog.failure(ofRow: row)
        return RowJSON(row: row, path: service.index.storedPath(ofRow: row), label: label, labelName: service.labelName(label),
                       norm: service.index.storedNorm(ofRow: row), status: failure == nil ? "ok" : "failed",
                       category: failure?.category, reason: failure?.reason)
    }

    func row(_ text: String) throws -> RowJSON {
        guard let row = Int(text) else { throw APIError(.badRequest, "row \(text.debugDescription) is not a number") }
        guard row >= 0, row < service.catalog.count else { throw APIError(.notFound, "row \(row) is not in the store (0..<\(service.catalog.count))") }
        return rowJSON(row)
    }

    // MARK: GET /identities/{label}

    struct IdentityJSON: Encodable {
        var label: Int64
        var labelName: String?
        var total: Int
        var offset: Int
        var rows: [RowJSON]
    }

    func page(_ query: [String: String]) throws -> (offset: Int, limit: Int) {
        let offset = try query["offset"].map { text in
            guard let v = Int(text), v >= 0 else { throw APIError(.badRequest, "offset must be a number >= 0") }
            return v
        } ?? 0
        let limit = try query["limit"].map { text in
            guard let v = Int(text), (1...1000).contains(v) else { throw APIError(.badRequest, "limit must be 1...1000") }
            return v
        } ?? 100
        return (offset, limit)
    }

    func identity(_ text: String, query: [String: String]) throws -> IdentityJSON {
        let name = text.removingPercentEncoding ?? text
        guard let id = service.labelID(name) else { throw APIError(.notFound, "label \(name.debugDescription) is neither a name in /label_names nor an id") }
        let (offset, limit) = try page(query)
        let rows = service.catalog.rows(ofLabel: id)
        let shown = rows.dropFirst(offset).prefix(limit)
        return IdentityJSON(label: id, labelName: service.labelName(id), total: rows.count, offset: offset, rows: shown.map(rowJSON))
    }

    // MARK: GET /failures

    struct FailuresJSON: Encodable {
        var total: Int
        var categories: [Category]
        var category: String?
        var offset: Int
        var rows: [RowJSON]
    }

    func failures(query: [String: String]) throws -> FailuresJSON {
        let (offset, limit) = try page(query)
        let category = query["category"]
        let all = service.catalog.failures
        let chosen = category.map { c in all.filter { $0.category == c } } ?? all
        if let category, chosen.isEmpty, !service.catalog.categories.contains(where: { $0.category == category }) {
            throw APIError(.notFound, "no failure category \(category.debugDescription); the store has \(service.catalog.categories.map(\.category))")
        }
        return FailuresJSON(total: chosen.count, categories: service.catalog.categories.map { Category(category: $0.category, count: $0.count) },
                            category: category, offset: offset, rows: chosen.dropFirst(offset).prefix(limit).map { rowJSON($0.row) })
    }

    // MARK: GET /thumbs/{row}

    /// The row's image from --image-root, or a grey placeholder (SVG) when there is none.
    func thumbnail(_ text: String) -> Response {
        if let row = Int(text), let url = service.imageFile(ofRow: row), let data = try? Data(contentsOf: url), Self.looksLikeImage(data) {
            let type = data.first == 0xFF ? "image/jpeg" : "image/png"
            return Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=3600"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        return Response(status: .ok, headers: [.contentType: "image/svg+xml", .cacheControl: "max-age=60"],
                        body: .init(byteBuffer: ByteBuffer(string: Self.placeholder)))
    }

    static let placeholder = """
        <svg xmlns="http://www.w3.org/2000/svg" width="112" height="112" viewBox="0 0 112 112">\
        <rect width="112" height="112" fill="#ddd"/><circle cx="56" cy="44" r="20" fill="#bbb"/>\
        <rect x="24" y="72" width="64" height="30" rx="15" fill="#bbb"/>\
        <text x="56" y="108" font-size="9" text-anchor="middle" fill="#888">no image</text></svg>
        """
}
