import Foundation
import Testing

/// The python that parses YAML: $MAGFLEET_PEER_PYTHON (CI's venv has PyYAML), else python3,
/// else the fixture venv; nil when none imports yaml.
let yamlPython: String? = {
    var candidates = ["python3", "/opt/fxvenv/bin/python"]
    if let configured = ProcessInfo.processInfo.environment["MAGFLEET_PEER_PYTHON"] { candidates.insert(configured, at: 0) }
    for candidate in candidates {
        let executable = candidate.hasPrefix("/") ? candidate : which(candidate)
        guard let executable, let result = try? runCommand(executable, ["-c", "import yaml"], timeout: 30) else { continue }
        if result.status == 0 { return executable }
    }
    return nil
}()

/// Parses every document of a YAML file with PyYAML (safe_load_all), returned as JSON values.
func parseYAML(_ path: String) throws -> [Any] {
    let python = try #require(yamlPython)
    let script = "import sys, json, yaml\nprint(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))"
    let result = try runCommand(python, ["-c", script, DeployTree.repository.path + "/" + path], timeout: 30)
    guard result.status == 0 else { throw DeployCheckFailure("PyYAML cannot parse \(path):\n\(result.stderr)") }
    let documents = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [Any]
    return try #require(documents?.filter { !($0 is NSNull) })
}

/// A key path into parsed YAML, e.g. value(doc, "spec", "template", "spec").
func value(_ node: Any?, _ path: String...) -> Any? {
    var current = node
    for key in path { current = (current as? [String: Any])?[key] }
    return current
}

/// Every `--flag` in `arguments` (a `coordinator` or `worker` command line) is one that
/// `magfleet <subcommand> --help` lists.
func expectAcceptedFlags(_ arguments: [String], in place: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let subcommand = try #require(arguments.first, "\(place): no command", sourceLocation: sourceLocation)
    #expect(["coordinator", "worker"].contains(subcommand), "\(place) starts \(subcommand)", sourceLocation: sourceLocation)
    let accepted = try MagfleetFlags.accepted(by: subcommand)
    let used = MagfleetFlags.used(in: Array(arguments.dropFirst()))
    #expect(!used.isEmpty, "\(place): no flags", sourceLocation: sourceLocation)
    for flag in used {
        #expect(accepted.contains(flag), "\(place): magfleet \(subcommand) does not accept \(flag)", sourceLocation: sourceLocation)
    }
}

/// The Kubernetes manifests and the compose file parse, carry their required fields, and
/// start magfleet with flags the real CLI accepts.
@Suite(.enabled(if: yamlPython != nil, "no python with PyYAML: set MAGFLEET_PEER_PYTHON (make test-deps installs pyyaml)"))
struct ManifestTests {
    @Test(arguments: DeployTree.yamlFiles)
    func parses(_ path: String) throws {
        #expect(try !parseYAML(path).isEmpty, "\(path) holds no document")
    }

    /// The Kubernetes objects, by kind, each with apiVersion, kind and metadata.name.
    func kubernetesObjects() throws -> [String: [[String: Any]]] {
        var objects: [String: [[String: Any]]] = [:]
        for path in DeployTree.yamlFiles where path.hasPrefix("Deploy/k8s/") {
            for document in try parseYAML(path) {
                let object = try #require(document as? [String: Any], "\(path): a document is not a mapping")
                let kind = object["kind"] as? String
                #expect(object["apiVersion"] is String, "\(path): \(kind ?? "?") without apiVersion")
                #expect(kind != nil, "\(path): an object without kind")
                #expect(value(object, "metadata", "name") is String, "\(path): \(kind ?? "?") without metadata.name")
                objects[kind ?? "?", default: []].append(object)
            }
        }
        return objects
    }

    /// The single container of a pod template, with its args.
    func container(_ object: [String: Any], _ name: String) throws -> [String] {
        let containers = try #require(value(object, "spec", "template", "spec", "containers") as? [[String: Any]], "\(name): no containers")
        #expect(containers.count == 1, "\(name): \(containers.count) containers")
        let first = try #require(containers.first)
        #expect(first["image"] is String, "\(name): container without image")
        return try #require(first["args"] as? [String], "\(name): container without args")
    }

    @Test func kubernetesHasTheJobServiceDeploymentSecretAndVolume() throws {
        let objects = try kubernetesObjects()
        let job = try #require(objects["Job"]?.first, "no coordinator Job")
        #expect(job["apiVersion"] as? String == "batch/v1")
        try expectAcceptedFlags(container(job, "Job"), in: "k8s Job")
        #expect(value(job, "spec", "template", "spec", "restartPolicy") as? String != "Always", "a Job may not restart Always")

        let service = try #require(objects["Service"]?.first, "no coordinator Service")
        let selector = try #require(value(service, "spec", "selector") as? [String: String])
        let jobLabels = try #require(value(job, "spec", "template", "metadata", "labels") as? [String: String])
        #expect(selector.allSatisfy { jobLabels[$0.key] == $0.value }, "the Service does not select the Job's pods")
        #expect((value(service, "spec", "ports") as? [Any])?.isEmpty == false, "the Service has no ports")

        let deployment = try #require(objects["Deployment"]?.first, "no worker Deployment")
        #expect(deployment["apiVersion"] as? String == "apps/v1")
        let workerArgs = try container(deployment, "Deployment")
        try expectAcceptedFlags(workerArgs, in: "k8s Deployment")
        let matchLabels = try #require(value(deployment, "spec", "selector", "matchLabels") as? [String: String])
        let podLabels = try #require(value(deployment, "spec", "template", "metadata", "labels") as? [String: String])
        #expect(matchLabels.allSatisfy { podLabels[$0.key] == $0.value }, "the Deployment's selector misses its pods")
        let serviceName = try #require(value(service, "metadata", "name") as? String)
        #expect(workerArgs.contains { $0.hasPrefix("--connect=tcp://\(serviceName):") }, "workers do not connect to the Service")

        let secret = try #require(objects["Secret"]?.first, "no CURVE Secret")
        let secretName = try #require(value(secret, "metadata", "name") as? String)
        let keys = Set(((secret["stringData"] ?? secret["data"]) as? [String: Any] ?? [:]).keys)
        #expect(keys.isSuperset(of: ["coordinator.key", "coordinator.pub", "worker.key", "worker.pub"]), "Secret keys: \(keys)")

        let claim = try #require(objects["PersistentVolumeClaim"]?.first, "no data PersistentVolumeClaim")
        let claimName = try #require(value(claim, "metadata", "name") as? String)
        #expect(value(claim, "spec", "resources", "requests", "storage") is String)
        // Both pods mount that claim and that Secret.
        for (name, object) in [("Job", job), ("Deployment", deployment)] {
            let volumes = value(object, "spec", "template", "spec", "volumes") as? [[String: Any]] ?? []
            #expect(volumes.contains { value($0, "persistentVolumeClaim", "claimName") as? String == claimName }, "\(name) does not mount \(claimName)")
            #expect(volumes.contains { value($0, "secret", "secretName") as? String == secretName }, "\(name) does not mount \(secretName)")
        }
    }

    @Test func composeHasACoordinatorAndWorkers() throws {
        let documents = try parseYAML("Deploy/compose/compose.yaml")
        let services = try #require(value(documents.first, "services") as? [String: Any], "compose without services")
        for name in ["coordinator", "worker"] {
            let service = try #require(services[name] as? [String: Any], "compose has no \(name) service")
            #expect(service["image"] is String || service["build"] != nil, "\(name): no image or build")
            let command = try #require(service["command"] as? [String], "\(name): command is not a list")
            #expect(command.first == name)
            try expectAcceptedFlags(command, in: "compose \(name)")
            #expect(service["volumes"] != nil, "\(name): no shared volume")
        }
    }

    @Test func systemdUnitStartsAWorkerWithAcceptedFlags() throws {
        let path = DeployTree.deploy.path + "/systemd/magfleet-worker@.service"
        let unit = try SystemdUnit(parsing: String(contentsOfFile: path, encoding: .utf8))
        for section in ["Unit", "Service", "Install"] { #expect(unit.sections[section] != nil, "no [\(section)]") }
        let start = try #require(unit.value("Service", "ExecStart"), "no ExecStart")
        let words = start.split(separator: " ").map(String.init)
        let executable = try #require(words.first)
        #expect(executable.hasPrefix("/") && executable.hasSuffix("/magfleet"), "ExecStart runs \(executable)")
        try expectAcceptedFlags(Array(words.dropFirst()), in: "systemd ExecStart")
        // Every ${VAR} it uses is set in the example environment file.
        let environment = try String(contentsOfFile: DeployTree.deploy.path + "/systemd/worker.env", encoding: .utf8)
        let defined = Set(environment.split(separator: "\n").compactMap { line -> String? in
            line.hasPrefix("#") ? nil : line.split(separator: "=", maxSplits: 1).first.map(String.init)
        })
        for word in words where word.hasPrefix("${") {
            #expect(defined.contains(String(word.dropFirst(2).dropLast())), "\(word) is not in worker.env")
        }
        #expect(unit.value("Service", "KillSignal") == "SIGTERM")
    }
}

/// A systemd unit file: [Section] headers and Key=Value lines (# and ; comments). Enough
/// for our one unit, which uses no line continuations.
struct SystemdUnit {
    var sections: [String: [(key: String, value: String)]] = [:]

    init(parsing text: String) throws {
        var current: String?
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast())
                sections[current!, default: []] = sections[current!] ?? []
                continue
            }
            guard !line.hasSuffix("\\") else { throw DeployCheckFailure("line continuation not supported: \(line)") }
            guard let section = current, let equals = line.firstIndex(of: "=") else {
                throw DeployCheckFailure("not a key=value line in a section: \(line)")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[section, default: []].append((key, value))
        }
    }

    /// The last value of `key` in `section` (systemd: a later assignment wins).
    func value(_ section: String, _ key: String) -> String? {
        sections[section]?.last { $0.key == key }?.value
    }
}
