import FeatureStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The HTTP side of `magfleet serve` on Hummingbird: the JSON API of Protocols/openapi.yaml
/// and the browser page (`BrowserPage`), over a `SearchService`. Every bad request is a 4xx
/// with `{"error": reason}`; nothing a client sends stops the server.
struct SearchServer: Sendable {
    let service: SearchService
    let token: String?
    let maxBody: Int
    /// The most neighbours per query and queries per request.
    static let maxTop = 1000
    static let maxQueries = 1024

    /// Serves until SIGTERM or SIGINT (Hummingbird's service group stops gracefully: requests in
    /// flight are answered). `onBound` gets the port the server listens on.
    func run(host: String, port: Int, logger: Logger, onBound: @escaping @Sendable (Int) -> Void) throws {
        let app = Application(
            router: router(), configuration: .init(address: .hostname(host, port: port), serverName: "magfleet"),
            onServerRunning: { channel in onBound(channel.localAddress?.port ?? port) }, logger: logger)
        let outcome = Mutex<Error?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do { try await app.runService() } catch { outcome.withLock { $0 = error } }
            done.signal()
        }
        done.wait()
        if let error = outcome.withLock({ $0 }) { throw CommandFailure("serve --bind \(host):\(port): \(error)") }
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        if let token { router.add(middleware: BearerTokenMiddleware(token: token)) }
        let api = API(service: service, maxBody: maxBody)
        router.get("/") { _, _ in Self.page(BrowserPage.html, type: "text/html; charset=utf-8") }
        router.get("/info") { _, _ in api.respond { try api.info() } }
        router.post("/search") { request, _ in
            var request = request
            let body: ByteBuffer
            do { body = try await request.collectBody(upTo: api.maxBody) } catch {
                return API.error(.contentTooLarge, "the request body is larger than --max-body \(api.maxBody) bytes")
            }
            return await api.respondAsync { try await api.search(Data(buffer: body)) }
        }
        router.get("/rows/:row") { _, context in
            api.respond { try api.row(context.parameters.get("row") ?? "") }
        }
        router.get("/identities/:label") { request, context in
            api.respond { try api.identity(context.parameters.get("label") ?? "", query: Self.query(request)) }
        }
        router.get("/failures") { request, _ in api.respond { try api.failures(query: Self.query(request)) } }
        router.get("/thumbs/:row") { _, context in api.thumbnail(context.parameters.get("row") ?? "") }
        return router
    }

    /// The query parameters (the first of a repeated one).
    static func query(_ request: Request) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in request.uri.queryParameters where out[String(key)] == nil {
            out[String(key)] = String(value).removingPercentEncoding ?? String(value)
        }
        return out
    }

    static func page(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Refuses requests without `Authorization: Bearer TOKEN` (or `?token=TOKEN`, for the browser's
/// images and links) with 401.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let header: String? = request.headers[.authorization]
        var given: String? = nil
        if let header, header.hasPrefix("Bearer ") { given = String(header.dropFirst(7)) }
        if given == nil, let query = request.uri.queryParameters["token"] { given = String(query) }
        guard let given, Self.same(given, token) else {
            let reason = given == nil ? "this server needs a bearer token (Authorization: Bearer TOKEN, or ?token=TOKEN)" : "wrong token"
            var response = API.error(.unauthorized, reason)
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }

    /// Compares in time independent of where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = x.count ^ y.count
        for i in 0..<min(x.count, y.count) { diff |= Int(x[i] ^ y[i]) }
        return diff == 0
    }
}
