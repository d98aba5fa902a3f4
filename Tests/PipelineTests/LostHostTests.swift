import Foundation
import TestSupport
import XCTest

/// Two "hosts" on this machine: network namespaces A and B joined by a veth pair, mpirun in A
/// with a host file naming both addresses, TCP only, and an rsh agent that enters B's
/// namespace. Addresses are in a fresh 10.213.x.0/30 on those two devices only.
final class TwoHosts {
    let tag: String, subnet: String, addresses: [String], namespaces: [String]
    let devices: [String]
    let folder: URL

    init(folder: URL) throws {
        self.folder = folder
        let x = Int.random(in: 0..<64) * 4   // a /30 inside 10.213.0.0/16, per run
        let y = Int.random(in: 0..<250)
        tag = String(format: "%02x%02x", y, x)
        subnet = "10.213.\(y).\(x)/30"
        addresses = ["10.213.\(y).\(x + 1)", "10.213.\(y).\(x + 2)"]
        namespaces = ["discern-\(tag)-a", "discern-\(tag)-b"]
        devices = ["dsc\(tag)a", "dsc\(tag)b"]
        guard try ip(["netns", "add", namespaces[0]]) == 0 else {
            throw XCTSkip("cannot create network namespaces (needs root or CAP_NET_ADMIN); the two-host test is skipped")
        }
        guard try ip(["netns", "add", namespaces[1]]) == 0,
              try ip(["link", "add", devices[0], "type", "veth", "peer", "name", devices[1]]) == 0 else {
            tearDown()
            throw SetupError(description: "created a namespace but not the veth pair for the two-host test")
        }
        for side in 0..<2 {
            let steps = [["link", "set", devices[side], "netns", namespaces[side]],
                         ["-n", namespaces[side], "addr", "add", "\(addresses[side])/30", "dev", devices[side]],
                         ["-n", namespaces[side], "link", "set", devices[side], "up"],
                         ["-n", namespaces[side], "link", "set", "lo", "up"]]
            for step in steps where try ip(step) != 0 {
                tearDown()
                throw SetupError(description: "ip \(step.joined(separator: " ")) failed")
            }
        }
    }

    /// The rsh agent mpirun calls as `AGENT HOST COMMAND...`, and the host file.
    func launchFiles() throws -> (agent: String, hostfile: String) {
        let agent = folder.appendingPathComponent("netns-agent-\(tag)"), hostfile = folder.appendingPathComponent("hosts-\(tag)")
        try """
        #!/bin/sh
        host="$1"; shift
        case "$host" in
          \(addresses[0])) ns=\(namespaces[0]) ;;
          \(addresses[1])) ns=\(namespaces[1]) ;;
          *) echo "netns agent: unknown host $host" >&2; exit 1 ;;
        esac
        exec ip netns exec "$ns" sh -c "$*"

        """.write(to: agent, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: agent.path)
        try addresses.map { "\($0) slots=1\n" }.joined().write(to: hostfile, atomically: true, encoding: .utf8)
        return (agent.path, hostfile.path)
    }

    /// `ip netns exec A mpirun ...` over both hosts, one rank each, TCP on the veth pair only.
    func mpirunCommand(_ arguments: [String]) throws -> [String] {
        let files = try launchFiles()
        return ["netns", "exec", namespaces[0], try locateMPIRun().path, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
                "--hostfile", files.hostfile, "-np", "2", "--map-by", "node",
                "--mca", "pml", "ob1", "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", subnet,
                "--mca", "oob_tcp_if_include", subnet, "--mca", "plm_rsh_agent", files.agent,
                "-x", "OPENBLAS_NUM_THREADS=1"] + arguments
    }

    func cutLink() throws {
        XCTAssertEqual(try ip(["-n", namespaces[1], "link", "set", devices[1], "down"]), 0)
    }

    /// Kills what still runs in the namespaces, then deletes them (and with them the veth pair).
    func tearDown() {
        for namespace in namespaces {
            let pids = (try? output(["netns", "pids", namespace])) ?? ""
            for pid in pids.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
            _ = try? ip(["netns", "del", namespace])
        }
    }

    @discardableResult
    func ip(_ arguments: [String]) throws -> Int32 {
        let result = try runChild(URL(fileURLWithPath: ipTool), arguments, environment: childEnvironment, timeout: 20)
        return result.status
    }

    func output(_ arguments: [String]) throws -> String {
        try runChild(URL(fileURLWithPath: ipTool), arguments, environment: childEnvironment, timeout: 20).standardOutput
    }

    var ipTool: String { findOnPath("ip")?.path ?? "/usr/sbin/ip" }
}

extension TrainCommandTests {
    func testTwoHostsTrainLikeOneAndACutLinkEndsEveryRank() throws {
        guard findOnPath("ip") != nil || FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") else {
            throw XCTSkip("no `ip` tool (iproute2): the two-host test needs network namespaces")
        }
        let hosts = try TwoHosts(folder: folder)
        defer { hosts.tearDown() }
        let ip = URL(fileURLWithPath: hosts.ipTool)
        let discern = try locateDiscern().path

        // 2 ranks on 2 hosts: the losses of 1 rank.
        let together = try runChild(ip, try hosts.mpirunCommand([discern] + arguments(run: "hosts")), environment: childEnvironment, timeout: 120)
        XCTAssertEqual(together.status, 0, together.transcript)
        XCTAssertEqual(try train(arguments(run: "alone")).status, 0)
        let two = try losses("hosts"), one = try losses("alone")
        XCTAssertEqual(two.count, 4, together.transcript)
        for (a, b) in zip(two, one) { XCTAssertEqual(a, b, accuracy: Self.crossRankTolerance * max(abs(b), 1)) }

        // A long run; the link goes down mid-run: every rank must stop within a bounded time.
        let run = folder.appendingPathComponent("cut")
        let log = folder.appendingPathComponent("cut.log")
        let (job, handle) = try startLogged(ip, try hosts.mpirunCommand([discern] + arguments(run: "cut", steps: 100_000)
            + ["--set", "distributed.timeout=3", "--set", "checkpoint.every=0"]), log: log)
        waitForMetricsSteps(run.appendingPathComponent("metrics.jsonl"), 3, seconds: 60, while: job)
        try hosts.cutLink()
        let cut = Date()
        let ranks = processes(mentioning: [run.path, "discern"], excluding: ["mpirun"])
        XCTAssertFalse(ranks.isEmpty, "no rank was running when the link was cut")
        while ranks.contains(where: isRunning) && Date().timeIntervalSince(cut) < 40 { Thread.sleep(forTimeInterval: 0.2) }
        let left = ranks.filter(isRunning)
        XCTAssertEqual(left, [], "ranks still running \(Int(Date().timeIntervalSince(cut))) s after the link was cut")
        // mpirun itself may wait for the cut-off daemon until TCP gives up (~15 min by default;
        // docs/cluster.md says how to shorten that): it has no rank left to run, so it is killed.
        let lingered = Date().addingTimeInterval(10)
        while job.isRunning && Date() < lingered { Thread.sleep(forTimeInterval: 0.2) }
        if job.isRunning { kill(job.processIdentifier, SIGKILL) }
        job.waitUntilExit()
        try handle.close()
        let output = try String(contentsOf: log, encoding: .utf8)
        XCTAssertNotEqual(job.terminationStatus, 0, output)
        XCTAssertTrue(output.contains("rank 0: no progress in MPI_") && output.contains("a rank or host is unreachable"), output)
    }
}
