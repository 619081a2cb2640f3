import ArgumentParser
import FeatureStore
import Foundation
import IResNet
import Logging

/// `magfleet serve STORE`: the store as an HTTP query service and a face browser.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a feature store over HTTP: a JSON search API and a face browser (one load, many clients).",
        discussion: """
            Maps the store once and answers searches from many clients; searches that arrive \
            while a scan runs share the next scan. The API is described in Protocols/openapi.yaml; \
            the browser is at /. Binding an address other than loopback needs --token (clients \
            send `Authorization: Bearer TOKEN`, or `?token=TOKEN`) or --insecure. SIGTERM or \
            SIGINT stops it gracefully (requests in flight are answered).

            Examples:
              magfleet serve features.h5 --image-root /data/lfw
              magfleet serve features.h5 --bind 0.0.0.0:8080 --token s3cret-token
              magfleet serve features.h5 --model magface_iresnet100.pth --bind 127.0.0.1:0
            """)

    @Argument(help: "The feature store (.h5).")
    var store: String

    @Option(help: "The folder the store's paths are relative to (thumbnails in the browser).")
    var imageRoot: String?

    @Option(help: "The model checkpoint that made the store, to search by uploaded image.")
    var model: String?

    @Option(help: "HOST:PORT to listen on (port 0: any free port, printed).")
    var bind = "127.0.0.1:8080"

    @Option(help: "A bearer token every request must carry (needed for a non-loopback --bind).")
    var token: String?

    @Flag(help: "Allow a non-loopback --bind without --token.")
    var insecure = false

    @Option(help: "The largest request body accepted, in bytes.")
    var maxBody = 16 << 20

    @Option(help: "The most queries that share one scan.")
    var maxBatch = 64

    func validate() throws {
        _ = try Self.parseBind(bind)
        if let token, token.isEmpty { throw ValidationError("--token is empty") }
        if maxBody < 1024 { throw ValidationError("--max-body must be at least 1024") }
        if maxBatch < 1 { throw ValidationError("--max-batch must be at least 1") }
        let (host, _) = try Self.parseBind(bind)
        if !Self.isLoopback(host), token == nil, !insecure {
            throw ValidationError("--bind \(bind) is not a loopback address: give --token TOKEN (clients send it as a bearer token), or --insecure to serve without one")
        }
    }

    static func parseBind(_ bind: String) throws -> (String, Int) {
        guard let colon = bind.lastIndex(of: ":"), let port = Int(bind[bind.index(after: colon)...]), (0...65_535).contains(port) else {
            throw ValidationError("--bind \(bind): expected HOST:PORT, e.g. 127.0.0.1:8080 (port 0: any free port)")
        }
        let host = String(bind[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard !host.isEmpty else { throw ValidationError("--bind \(bind): no host") }
        return (host, port)
    }

    /// One line on stdout, unbuffered (tests wait for the listening line).
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    func run() throws {
        let started = DispatchTime.now()
        let reader = try FeatureStoreReader(url: URL(fileURLWithPath: store))
        let index = try NearestNeighbors(reader: reader)
        let catalog = try StoreCatalog(reader: reader)
        var embedder: ImageSearchEmbedder?
        if let model {
            embedder = try ImageSearchEmbedder(model: model, provenance: reader.provenance)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        let service = SearchService(
            store: store, provenance: reader.provenance, index: index, catalog: catalog,
            batcher: SearchBatcher(index: index, maxBatch: maxBatch), embedder: embedder,
            imageRoot: imageRoot.map { URL(fileURLWithPath: $0) }, loadSeconds: seconds)
        let (host, port) = try Self.parseBind(bind)
        var logger = Logger(label: "magfleet.serve")
        logger.logLevel = .warning
        try SearchServer(service: service, token: token, maxBody: maxBody)
            .run(host: host, port: port, logger: logger) { bound in
                Self.say("magfleet serve: \(store) (\(index.count) searchable rows, dim \(index.dim), \(index.isMapped ? "mapped" : "in memory"), loaded in \(String(format: "%.2f", seconds)) s) at http://\(host.contains(":") ? "[\(host)]" : host):\(bound)/")
            }
        service.batcher.stop()
        Self.say("magfleet serve: stopped")
    }
}
