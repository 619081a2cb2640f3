import Foundation
import ClusterCore

/// SSH hosts made on this machine: each is a network namespace joined to the root namespace
/// by a veth pair (root side 10.231.X.1/30, host side .2/30, X picked free) with an sshd of
/// its own listening on the host side, root logging in with a generated key. Only the
/// namespaces, links and addresses made here are touched. `remove()` kills every process in
/// those namespaces (sshd, and whatever the launcher started there) and deletes them.
final class NamespaceHosts {
    struct Host {
        var namespace: String
        var rootInterface: String
        var rootAddress: String
        var address: String
    }

    let directory: String
    private(set) var hosts: [Host] = []

    /// Root, iproute2 with `ip netns`, sshd, ssh and ssh-keygen.
    static var available: Bool {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: ip),
              FileManager.default.isExecutableFile(atPath: sshd), which("ssh") != nil, which("ssh-keygen") != nil
        else { return false }
        let probe = "mfdprobe\(getpid())"
        guard (try? run(ip, ["netns", "add", probe])) != nil else { return false }
        _ = try? run(ip, ["netns", "del", probe])
        return true
    }

    static let ip = "/usr/sbin/ip"
    static let sshd = "/usr/sbin/sshd"
    var clientKey: String { directory + "/client_key" }

    /// ssh options that log in to these hosts: the generated key, no host key checks.
    var sshOptions: String {
        "-i \(clientKey) -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    }

    init(directory: String) throws {
        self.directory = directory
        guard let keygen = which("ssh-keygen") else { throw DeployCheckFailure("no ssh-keygen") }
        try Self.run(keygen, ["-q", "-t", "ed25519", "-N", "", "-f", directory + "/host_key"])
        try Self.run(keygen, ["-q", "-t", "ed25519", "-N", "", "-f", clientKey])
        try FileManager.default.copyItem(atPath: clientKey + ".pub", toPath: directory + "/authorized_keys")
        // sshd's privilege separation directory (the package's service normally makes it).
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
    }

    /// Makes one more host and starts its sshd; returns once it listens (at most 10 s).
    @discardableResult
    func add() throws -> Host {
        let inUse = try Self.run(Self.ip, ["-o", "addr", "show"]).stdout
        var octet = Int.random(in: 1..<250)
        for _ in 0..<250 where inUse.contains("10.231.\(octet).") || hosts.contains(where: { $0.address.hasPrefix("10.231.\(octet).") }) {
            octet = octet % 249 + 1
        }
        let tag = "\(octet)x\(getpid() % 10_000)"
        let host = Host(namespace: "mfd\(tag)", rootInterface: "mfdr\(tag)",
                        rootAddress: "10.231.\(octet).1", address: "10.231.\(octet).2")
        let inner = "mfdn\(tag)"
        hosts.append(host)  // registered first, so remove() undoes a half-made host too
        try Self.run(Self.ip, ["netns", "add", host.namespace])
        try Self.run(Self.ip, ["link", "add", host.rootInterface, "type", "veth", "peer", "name", inner])
        try Self.run(Self.ip, ["link", "set", inner, "netns", host.namespace])
        try Self.run(Self.ip, ["addr", "add", "\(host.rootAddress)/30", "dev", host.rootInterface])
        try Self.run(Self.ip, ["link", "set", host.rootInterface, "up"])
        let inside = ["netns", "exec", host.namespace, Self.ip]
        try Self.run(Self.ip, inside + ["addr", "add", "\(host.address)/30", "dev", inner])
        try Self.run(Self.ip, inside + ["link", "set", inner, "up"])
        try Self.run(Self.ip, inside + ["link", "set", "lo", "up"])
        // Other hosts' root-side addresses (where a coordinator may listen) via this link.
        try Self.run(Self.ip, inside + ["route", "add", "default", "via", host.rootAddress])

        let config = directory + "/sshd_\(host.namespace).conf"
        try """
            ListenAddress \(host.address)
            HostKey \(directory)/host_key
            PidFile \(directory)/sshd_\(host.namespace).pid
            AuthorizedKeysFile \(directory)/authorized_keys
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no

            """.write(toFile: config, atomically: true, encoding: .utf8)
        let log = directory + "/sshd_\(host.namespace).log"
        // sshd daemonizes (its pid in PidFile; remove() finds it among the namespace's
        // processes). Not a Foundation Process child: sshd closes every inherited descriptor,
        // which Foundation's Process takes for an exit and then blocks waiting for it.
        try Self.run(Self.ip, ["netns", "exec", host.namespace, Self.sshd, "-f", config, "-E", log])
        let deadline = Date().addingTimeInterval(10)
        while !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("Server listening") {
            guard Date() < deadline else {
                throw DeployCheckFailure("sshd in \(host.namespace) did not start:\n" + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? ""))
            }
            usleep(20_000)
        }
        return host
    }

    /// Kills every process in the namespaces, then deletes the links and namespaces.
    func remove() {
        for host in hosts {
            let pids = (try? Self.run(Self.ip, ["netns", "pids", host.namespace]).stdout) ?? ""
            for pid in pids.split(separator: "\n").compactMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }) where pid > 1 {
                kill(pid, SIGKILL)
            }
            _ = try? Self.run(Self.ip, ["link", "del", host.rootInterface])
            _ = try? Self.run(Self.ip, ["netns", "del", host.namespace])
        }
        hosts = []
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> Finished {
        let result = try runCommand(executable, arguments, timeout: 10)
        guard result.status == 0 else {
            throw DeployCheckFailure("\(executable) \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result
    }
}
