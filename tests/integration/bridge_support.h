// Shared by the bridge_*_test.cc root tests: a fixture that runs `nucleus run --network bridge`
// inside a TestNetwork, and a tiny python "agent" used as workload, upstream server and client.
//
// The agent (python3 from /usr, visible in every sandbox):
//   agent.py TAG                  serves tcp/8080 ("tcp-TAG\n" then close), udp/8081 (replies
//                                 "udp-TAG") and a control port tcp/9000: a line "PROTO HOST PORT"
//                                 makes the agent probe HOST:PORT from inside its own namespace
//                                 and answer "ok REPLY" or "fail ERROR"; "P1;P2;..." runs several
//                                 probes in parallel and answers "R1;R2;...". Dual stack.
//   agent.py probe PROTO HOST PORT   one probe from the caller's namespace, printed.
//   agent.py ctl HOST CMD...         sends CMD to HOST:9000 and prints the answer.
#pragma once

#include <signal.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/host_snapshot.h"
#include "tests/support/sandbox_fixture.h"

namespace nucleus::testing {

inline constexpr const char* kAgent = R"PY(
import os, signal, socket, sys, threading
def fam(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET
def probe(proto, host, port):
    try:
        if proto == "tcp":
            s = socket.socket(fam(host), socket.SOCK_STREAM); s.settimeout(2)
            s.connect((host, int(port)))
            return "ok " + s.recv(64).decode().strip()
        s = socket.socket(fam(host), socket.SOCK_DGRAM); s.settimeout(2)
        s.sendto(b"x", (host, int(port)))
        return "ok " + s.recvfrom(64)[0].decode().strip()
    except Exception as e:
        return "fail " + type(e).__name__
def listener(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    return s
def serve_tcp(port, handler):
    s = listener(socket.SOCK_STREAM, port); s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handler, args=(c,), daemon=True).start()
def hello(c):
    c.sendall(("tcp-" + tag + "\n").encode()); c.close()
def control(c):
    # "P1;P2;..." runs the probes in parallel (failures cost a timeout each) and answers "R1;R2;...".
    f = c.makefile("rw")
    jobs = [j.split() for j in f.readline().strip().split(";")]
    out = [""] * len(jobs)
    def run(i):
        out[i] = probe(*jobs[i])
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads: t.start()
    for t in threads: t.join()
    f.write(";".join(out) + "\n"); f.flush(); c.close()
def udp():
    # Reply from the address the datagram was sent to (not the route's choice), or conntrack
    # would not match the reply to its flow through NAT.
    s = listener(socket.SOCK_DGRAM, 8081)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    while True:
        d, anc, _, a = s.recvmsg(64, 256)
        info = [c for c in anc if c[0] == socket.IPPROTO_IPV6 and c[1] == socket.IPV6_PKTINFO]
        s.sendmsg([("udp-" + tag).encode()], info, 0, a)
if sys.argv[1] == "probe":
    print(probe(*sys.argv[2:5])); sys.exit(0)
if sys.argv[1] == "ctl":
    try:
        s = socket.create_connection((sys.argv[2], 9000), 5); s.settimeout(10)
        s.sendall((" ".join(sys.argv[3:]) + "\n").encode())
        print(s.makefile().readline().strip())
    except Exception as e:
        print("ctl-fail " + type(e).__name__)
    sys.exit(0)
tag = sys.argv[1]
# As PID 1 of its namespace the agent gets no default SIGTERM action: exit cleanly on it.
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
threading.Thread(target=udp, daemon=True).start()
threading.Thread(target=serve_tcp, args=(9000, control), daemon=True).start()
serve_tcp(8080, hello)
)PY";

inline constexpr const char* kPython = "/usr/bin/python3";

class BridgeTest : public SandboxTest {
 protected:
  void SetUp() override {
    SandboxTest::SetUp();
    if (HasFatalFailure()) return;
    agent_ = scratch_ + "/agent.py";
    std::ofstream(agent_) << kAgent;
    net_->spawn_upstream(std::string("exec ") + kPython + " " + agent_ + " up");
    ASSERT_TRUE(eventually([&] { return probe_from_upstream("tcp", "203.0.113.10", 8080) == "ok tcp-up"; }))
        << "upstream agent did not start";
    ASSERT_TRUE(settle_host_addresses(*net_));
  }
  void TearDown() override {
    sandboxes_.clear();  // nucleus gets SIGKILL from Spawned; gc in SandboxTest cleans up
    SandboxTest::TearDown();
  }

  [[nodiscard]] std::string snapshot() const { return host_snapshot(*net_, state_root_); }
  // The host once a sandbox is gone. A sandbox that leaves while another keeps the bridge up
  // leaves its veth to the kernel, which removes it with the sandbox's netns a few ms later: wait
  // (bounded) for the host to equal `want`, then return a fresh snapshot, so a mismatch still
  // shows the difference.
  [[nodiscard]] std::string snapshot_after_exit(const std::string& want) const {
    (void)eventually([&] { return snapshot() == want; });
    return snapshot();
  }

  // `run --network bridge --dns 198.51.100.2 EXTRA... -- CMD...`
  static std::vector<std::string> bridge_args(const std::vector<std::string>& extra,
                                              const std::vector<std::string>& cmd) {
    std::vector<std::string> a = {"run", "--network", "bridge", "--dns", "198.51.100.2"};
    a.insert(a.end(), extra.begin(), extra.end());
    a.push_back("--");
    a.insert(a.end(), cmd.begin(), cmd.end());
    return a;
  }
  static std::vector<std::string> agent_cmd(const std::vector<std::string>& args) {
    std::vector<std::string> c = {kPython, "-c", kAgent};
    c.insert(c.end(), args.begin(), args.end());
    return c;
  }

  // Starts a sandbox named `name` running the agent (tag = name) and waits until the host reaches
  // its agent at `ip`. Returns false when it did not come up.
  bool start_agent(const std::string& name, const std::string& ip,
                   const std::vector<std::string>& extra) {
    std::vector<std::string> flags = {"--name", name, "--ip", ip};
    flags.insert(flags.end(), extra.begin(), extra.end());
    sandboxes_.push_back(std::make_unique<Spawned>(nucleus_argv(bridge_args(flags, agent_cmd({name})))));
    if (eventually([&] { return probe_from_host("tcp", ip, 8080) == "ok tcp-" + name; },
                   std::chrono::seconds(20)))
      return true;
    // Say why: nucleus's own report, or the sandbox's.
    auto r = sandboxes_.back()->wait(std::chrono::seconds(2));
    sandboxes_.pop_back();
    ADD_FAILURE() << "sandbox " << name << " did not come up (status " << r.status << "): " << r.err;
    return false;
  }
  // Stops every started sandbox (SIGTERM, which nucleus forwards; the agent exits 0 on it) and
  // waits for each; returns their exit statuses.
  std::vector<int> stop_all() {
    std::vector<int> statuses;
    for (auto& s : sandboxes_) s->signal(SIGTERM);
    for (auto& s : sandboxes_) statuses.push_back(s->wait(std::chrono::seconds(30)).status);
    sandboxes_.clear();
    return statuses;
  }

  std::string probe_from_host(const std::string& proto, const std::string& host, int port) const {
    return first_line(net_->in_host({kPython, agent_, "probe", proto, host, std::to_string(port)}).out);
  }
  std::string probe_from_upstream(const std::string& proto, const std::string& host, int port) const {
    return first_line(net_->in_upstream({kPython, agent_, "probe", proto, host, std::to_string(port)}).out);
  }
  // A probe made from inside the sandbox whose agent listens on `agent_ip`.
  std::string probe_from_sandbox(const std::string& agent_ip, const std::string& proto,
                                 const std::string& host, int port) const {
    return first_line(net_->in_host({kPython, agent_, "ctl", agent_ip, proto, host,
                                     std::to_string(port)}).out);
  }

  // Several probes ("PROTO HOST PORT") from inside one sandbox, in parallel; results in order.
  std::vector<std::string> probes_from_sandbox(const std::string& agent_ip,
                                               const std::vector<std::string>& probes) const {
    std::string line;
    for (const auto& p : probes) line += (line.empty() ? "" : ";") + p;
    std::string reply = first_line(net_->in_host({kPython, agent_, "ctl", agent_ip, line}).out);
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t end; (end = reply.find(';', start)) != std::string::npos; start = end + 1)
      out.push_back(reply.substr(start, end - start));
    out.push_back(reply.substr(start));
    return out;
  }

  // Network details nucleus recorded for sandbox `name` (`nucleus state NAME`).
  nlohmann::json network_of(const std::string& name) {
    auto r = nucleus({"state", name, "--format", "json"});
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.contains("details") || !j["details"].contains("network")) return {};
    return j["details"]["network"];
  }

  // `iptables -P FORWARD DROP` as an iptables-nft host has it, for IPv4 and IPv6.
  void add_forward_drop_policy() {
    auto r = net_->sh_host(
        "nft add table ip filter && "
        "nft add chain ip filter FORWARD '{ type filter hook forward priority 0; policy drop; }' && "
        "nft add table ip6 filter && "
        "nft add chain ip6 filter FORWARD '{ type filter hook forward priority 0; policy drop; }'");
    ASSERT_EQ(r.status, 0) << r.err;
  }

  std::string agent_;
  std::vector<std::unique_ptr<Spawned>> sandboxes_;
};

}  // namespace nucleus::testing
