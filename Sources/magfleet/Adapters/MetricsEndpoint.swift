import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import Cluster

/// `--metrics-bind HOST:PORT`: the coordinator's metrics (swift-metrics, bootstrapped here with
/// swift-prometheus) in Prometheus's text format at `GET /metrics`, served by Hummingbird on its
/// own event loop while the coordinator's loop runs on the main thread. docs/operations.md,
/// "Metrics", lists them and has a scrape config.
final class MetricsEndpoint: @unchecked Sendable {  // @unchecked: `task` is set once in init and only cancelled after.
    let registry: PrometheusCollectorRegistry
    /// `host:port` as bound (the port the kernel chose for port 0).
    let address: String
    private var task: Task<Void, Never>?

    /// Binds and starts serving; throws when the address cannot be bound.
    init(bind: String, logger: Logger) throws {
        guard let colon = bind.lastIndex(of: ":"), let port = Int(bind[bind.index(after: colon)...]), (0...65_535).contains(port) else {
            throw CommandFailure("--metrics-bind \(bind): expected HOST:PORT, e.g. 127.0.0.1:9464 (port 0: any free port)")
        }
        let host = String(bind[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            var text: [UInt8] = []
            registry.emit(into: &text)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: Self.withHelp(String(decoding: text, as: UTF8.self)))))
        }
        router.get("/") { _, _ in "magfleet coordinator metrics: GET /metrics\n" }
        let started = Started()
        var serverLogger = logger
        serverLogger.logLevel = max(logger.logLevel, .warning)  // no line per request
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "magfleet"),
            onServerRunning: { channel in started.finish(.success(channel.localAddress?.port ?? port)) }, logger: serverLogger)
        task = Task.detached {
            do { try await app.run() } catch { started.finish(.failure(error)) }
        }
        switch started.wait(seconds: 30) {
        case let .success(bound)?:
            address = "\(host):\(bound)"
        case let .failure(error)?:
            throw CommandFailure("--metrics-bind \(bind): cannot serve metrics: \(error)")
        case nil:
            task?.cancel()
            throw CommandFailure("--metrics-bind \(bind): the metrics server did not start within 30 s")
        }
    }

    /// The scrape with a `# HELP` line before each family's `# TYPE` line (RunMetrics.help).
    static func withHelp(_ text: String) -> String {
        let help = Dictionary(uniqueKeysWithValues: RunMetrics.help.map { ($0.key, $0.value) })
        var out = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), let name = line.split(separator: " ").dropFirst(2).first, let text = help[String(name)] {
                out += "# HELP \(name) \(text)\n"
            }
            out += line + "\n"
        }
        return String(out.dropLast())
    }

    /// Stops serving (the coordinator is done).
    func stop() { task?.cancel() }

    /// The server's first outcome: bound to a port, or failed.
    private final class Started: @unchecked Sendable {  // @unchecked: `outcome` is guarded by `condition`.
        private let condition = NSCondition()
        private var outcome: Result<Int, Error>?

        func finish(_ result: Result<Int, Error>) {
            condition.withLock {
                if outcome == nil { outcome = result }
                condition.broadcast()
            }
        }

        func wait(seconds: Double) -> Result<Int, Error>? {
            let deadline = Date().addingTimeInterval(seconds)
            return condition.withLock {
                while outcome == nil, condition.wait(until: deadline) {}
                return outcome
            }
        }
    }
}
