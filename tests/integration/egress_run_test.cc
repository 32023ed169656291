// Egress end to end (issue 4) through the real binary: `nucleus run --network bridge` with egress
// flags inside the throwaway host namespace; upstream runs dnsmasq on 198.51.100.2 and TCP/UDP
// servers on 203.0.113.10-13 and 2001:db8:113::10-13. The checks run inside the sandbox
// (egress_probe_py.h) and their outcomes are asserted here.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/base/fs.h"
#include "tests/integration/egress_probe_py.h"
#include "tests/integration/egress_upstream_py.h"
#include "tests/support/sandbox_fixture.h"

namespace nucleus::testing {
namespace {

using namespace std::chrono_literals;

class EgressRun : public SandboxTest {
 protected:
  void SetUp() override {
    SandboxTest::SetUp();
    if (HasFatalFailure()) return;
    std::ofstream(scratch_ + "/probe.py") << kEgressProbePy;
    std::ofstream(scratch_ + "/servers.py") << kEgressUpstreamPy;
    hosts_ = scratch_ + "/upstream-hosts";
    set_allowed("203.0.113.10");
    net_->spawn_upstream("exec python3 " + scratch_ + "/servers.py");
    dns_log_ = scratch_ + "/dnsmasq.log";
    net_->spawn_upstream(
        "exec dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts "
        "--user=root --listen-address=198.51.100.2 --bind-interfaces --addn-hosts=" +
        hosts_ +
        " --address=/other.test/203.0.113.11 --address=/x.wild.test/203.0.113.10"
        " --local-ttl=1 --log-queries --log-facility=" +
        dns_log_ + " --pid-file=" + scratch_ + "/dnsmasq.pid");
    ASSERT_TRUE(eventually([&] { return dns_log().find("started") != std::string::npos; }));
    ASSERT_TRUE(eventually([&] {
      auto r = net_->in_host({"python3", scratch_ + "/probe.py", "tcp 203.0.113.10 80",
                              "dns 198.51.100.2 allowed.test A"});
      return r.out.find("80 => ok") != std::string::npos &&
             r.out.find("=> rcode=0 203.0.113.10") != std::string::npos;
    })) << "upstream services did not come up";
  }

  // allowed.test resolves (A) to `v4` and (AAAA) to 2001:db8:113::10; dnsmasq re-reads on HUP.
  void set_allowed(const std::string& v4) {
    ASSERT_TRUE(
        fs::write_atomic(hosts_, v4 + " allowed.test\n2001:db8:113::10 allowed.test\n", 0644));
    auto pid = fs::read_file(scratch_ + "/dnsmasq.pid");
    if (pid && !pid->empty()) ::kill(std::stoi(*pid), SIGHUP);
  }

  std::string dns_log() const {
    auto text = fs::read_file(dns_log_);
    return text ? *text : std::string();
  }

  std::vector<std::string> run_args(const std::vector<std::string>& flags,
                                    const std::vector<std::string>& checks) const {
    std::vector<std::string> args = {"run",   "--network",    "bridge", "--ipv6",
                                     "--dns", "198.51.100.2", "-v",     scratch_ + ":/gate"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"--", "python3", "/gate/probe.py"});
    args.insert(args.end(), checks.begin(), checks.end());
    return args;
  }

  // Runs the checks in one sandbox; returns check -> outcome.
  std::map<std::string, std::string> checks(const std::vector<std::string>& flags,
                                            const std::vector<std::string>& list) {
    auto r = nucleus(run_args(flags, list), 90s);
    EXPECT_EQ(r.status, 0) << r.err;
    last_err_ = r.err;
    return parse(r.out);
  }

  static std::map<std::string, std::string> parse(const std::string& out) {
    std::map<std::string, std::string> results;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      auto at = line.find(" => ");
      if (at != std::string::npos) results[line.substr(0, at)] = line.substr(at + 4);
    }
    return results;
  }

  std::vector<nlohmann::json> events(const std::string& path) const {
    std::vector<nlohmann::json> out;
    auto text = fs::read_file(path);
    if (!text) return out;
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);)
      out.push_back(nlohmann::json::parse(line, nullptr, false));
    return out;
  }

  std::string hosts_, dns_log_, last_err_;
};

// A denial must fail fast: a reset or ICMP error, or the local EPERM of an output-hook reject;
// never a timeout.
bool denied_fast(const std::string& outcome) {
  return outcome == "refused" || outcome == "eperm" || outcome == "unreachable";
}

TEST_F(EgressRun, DomainsAreServedByTheProxyAndEverythingElseIsDenied) {
  const std::string events_path = scratch_ + "/events.jsonl";
  Spawned run(nucleus_argv(run_args(
      {"--name", "egress-dns", "--egress-domain", "allowed.test", "--events-jsonl", events_path},
      {"resolvconf", "resolve allowed.test", "tcp allowed.test 80", "tcp 2001:db8:113::10 80",
       "dns 127.0.0.53 other.test A", "dns 127.0.0.53 other.test AAAA tcp",
       "dns 127.0.0.53 allowed.test A tcp", "dns 198.51.100.2 allowed.test A",
       "dns 198.51.100.2 allowed.test A tcp", "dns 203.0.113.13 allowed.test A",
       "tcp 203.0.113.11 80", "tcp 2001:db8:113::11 80", "udp 203.0.113.11 9", "icmp 203.0.113.11",
       "resolve other.test", "wait /gate/release 60"})));

  // While it runs, the counters are visible in `nucleus state`.
  nlohmann::json egress;
  EXPECT_TRUE(eventually(
      [&] {
        auto s = nucleus({"state", "egress-dns", "--format", "json"});
        auto j = nlohmann::json::parse(s.out, nullptr, false);
        if (j.is_discarded() || !j.contains("details") || !j["details"].contains("egress"))
          return false;
        egress = j["details"]["egress"];
        return egress["denied_packets"]["ipv4"].get<uint64_t>() >= 3 &&
               egress["denied_packets"]["ipv6"].get<uint64_t>() >= 1 &&
               egress["dns"]["refused"].get<uint64_t>() >= 2;
      },
      30s))
      << egress.dump();
  std::ofstream(scratch_ + "/release") << "go";
  auto r = run.wait(60s);
  ASSERT_EQ(r.status, 0) << r.err;
  auto out = parse(r.out);

  EXPECT_EQ(out["resolvconf"], "127.0.0.53") << r.out;
  EXPECT_EQ(out["resolve allowed.test"], "2001:db8:113::10 203.0.113.10") << r.out;
  EXPECT_EQ(out["tcp allowed.test 80"], "ok") << r.out;
  EXPECT_EQ(out["tcp 2001:db8:113::10 80"], "ok") << r.out;  // learned from the AAAA answer
  EXPECT_EQ(out["dns 127.0.0.53 other.test A"], "rcode=5") << r.out;  // REFUSED
  EXPECT_EQ(out["dns 127.0.0.53 other.test AAAA tcp"], "rcode=5") << r.out;
  EXPECT_EQ(out["dns 127.0.0.53 allowed.test A tcp"], "rcode=0 203.0.113.10") << r.out;
  // The upstream resolver is only reached through the proxy; other resolvers not at all.
  EXPECT_TRUE(denied_fast(out["dns 198.51.100.2 allowed.test A"])) << r.out;
  EXPECT_TRUE(denied_fast(out["dns 198.51.100.2 allowed.test A tcp"])) << r.out;
  EXPECT_TRUE(denied_fast(out["dns 203.0.113.13 allowed.test A"])) << r.out;
  EXPECT_EQ(out["tcp 203.0.113.11 80"], "refused") << r.out;
  EXPECT_EQ(out["tcp 2001:db8:113::11 80"], "refused") << r.out;
  EXPECT_TRUE(denied_fast(out["udp 203.0.113.11 9"])) << r.out;
  const std::string icmp = out["icmp 203.0.113.11"];
  EXPECT_TRUE(denied_fast(icmp) || icmp == "noperm") << r.out;
  EXPECT_EQ(out["resolve other.test"], "gaierror") << r.out;

  // Refused names never reached dnsmasq; the allowed one did.
  std::string log = dns_log();
  EXPECT_EQ(log.find("other.test"), std::string::npos) << log;
  EXPECT_NE(log.find("allowed.test"), std::string::npos) << log;

  // Audit: denied flows (from the kernel's NFLOG) and DNS refusals.
  bool tcp_denial = false, udp_denial = false, v6_denial = false, dns_refusal = false;
  for (const auto& e : events(events_path)) {
    ASSERT_FALSE(e.is_discarded());
    EXPECT_EQ(e["sandbox"], "egress-dns");
    if (e["event"] == "egress.denied") {
      EXPECT_TRUE(e.contains("reason") && e.contains("family") && e.contains("protocol")) << e;
      if (e["destination"] == "203.0.113.11" && e["protocol"] == "tcp" && e["port"] == 80) {
        tcp_denial = true;
        EXPECT_EQ(e["family"], "ipv4");
        EXPECT_EQ(e["reason"], "destination not allowed");
      }
      if (e["destination"] == "203.0.113.11" && e["protocol"] == "udp" && e["port"] == 9)
        udp_denial = true;
      if (e["destination"] == "2001:db8:113::11" && e["family"] == "ipv6") v6_denial = true;
    }
    if (e["event"] == "egress.dns_refused" && e["name"] == "other.test") dns_refusal = true;
  }
  EXPECT_TRUE(tcp_denial && udp_denial && v6_denial && dns_refusal)
      << fs::read_file(events_path).value_or("");
  EXPECT_TRUE(leftover_sandboxes().empty());
}

TEST_F(EgressRun, CidrsBothFamiliesAndResolversOnly) {
  auto out = checks(
      {"--egress-allow", "203.0.113.10/32", "--egress-allow", "2001:db8:113::12"},
      {"resolvconf", "tcp 203.0.113.10 80", "udp 203.0.113.10 9", "icmp 203.0.113.10",
       "tcp 203.0.113.11 80", "udp 203.0.113.11 9", "icmp 203.0.113.11", "tcp 2001:db8:113::12 80",
       // The IPv4 twin is allowed; its IPv6 address is not.
       "tcp 2001:db8:113::10 80", "dns 198.51.100.2 other.test A",
       "dns 203.0.113.13 other.test A"});
  EXPECT_EQ(out["resolvconf"], "198.51.100.2") << last_err_;
  EXPECT_EQ(out["tcp 203.0.113.10 80"], "ok");
  EXPECT_EQ(out["udp 203.0.113.10 9"], "ok");
  const std::string icmp_ok = out["icmp 203.0.113.10"];
  EXPECT_TRUE(icmp_ok == "ok" || icmp_ok == "noperm") << icmp_ok;
  EXPECT_EQ(out["tcp 203.0.113.11 80"], "refused");
  EXPECT_TRUE(denied_fast(out["udp 203.0.113.11 9"])) << out["udp 203.0.113.11 9"];
  const std::string icmp = out["icmp 203.0.113.11"];
  EXPECT_TRUE(denied_fast(icmp) || (icmp == "noperm" && icmp_ok == "noperm")) << icmp;
  EXPECT_EQ(out["tcp 2001:db8:113::12 80"], "ok");
  EXPECT_EQ(out["tcp 2001:db8:113::10 80"], "refused");
  // Without domains DNS goes straight to the --dns resolvers, and only to them.
  EXPECT_EQ(out["dns 198.51.100.2 other.test A"], "rcode=0 203.0.113.11");
  EXPECT_TRUE(denied_fast(out["dns 203.0.113.13 other.test A"]));
}

TEST_F(EgressRun, PortRestrictionAndPolicyFile) {
  const std::string policy = scratch_ + "/policy.toml";
  std::ofstream(policy) << "allow = [\"203.0.113.10/32\"]\ntcp_ports = [8080]\n";
  const std::string events_path = scratch_ + "/ports.jsonl";
  auto out = checks({"--egress-policy", policy, "--egress-allow", "2001:db8:113::10",
                     "--events-jsonl", events_path},
                    {"tcp 203.0.113.10 8080", "tcp 203.0.113.10 80", "tcp 2001:db8:113::10 8080",
                     "tcp 2001:db8:113::10 80", "udp 203.0.113.10 9"});
  EXPECT_EQ(out["tcp 203.0.113.10 8080"], "ok") << last_err_;
  EXPECT_EQ(out["tcp 203.0.113.10 80"], "refused");
  EXPECT_EQ(out["tcp 2001:db8:113::10 8080"], "ok");
  EXPECT_EQ(out["tcp 2001:db8:113::10 80"], "refused");
  // Only TCP ports were listed: UDP to allowed destinations keeps every port.
  EXPECT_EQ(out["udp 203.0.113.10 9"], "ok");
  bool port_reason = false;
  for (const auto& e : events(events_path))
    if (e["event"] == "egress.denied" && e["destination"] == "203.0.113.10" && e["port"] == 80)
      port_reason = e["reason"] == "port not allowed";
  EXPECT_TRUE(port_reason) << fs::read_file(events_path).value_or("");
}

TEST_F(EgressRun, ChangedRecordIsFollowedAfterItsTtl) {
  Spawned run(nucleus_argv(
      run_args({"--egress-domain", "allowed.test", "--egress-domain", "*.wild.test"},
               {"tcp allowed.test 80", "tcp 203.0.113.11 80 #before", "resolve x.wild.test",
                "dns 127.0.0.53 wild.test A", "dns 127.0.0.53 a.x.wild.test A", "touch /gate/ready",
                "wait /gate/changed 60", "waitresolve allowed.test 203.0.113.11 20",
                "tcp 203.0.113.11 80 #after"})));
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(scratch_ + "/ready"); }, 30s));
  set_allowed("203.0.113.11");
  std::ofstream(scratch_ + "/changed") << "go";
  auto r = run.wait(60s);
  ASSERT_EQ(r.status, 0) << r.err;
  auto out = parse(r.out);
  EXPECT_EQ(out["tcp allowed.test 80"], "ok") << r.out;
  EXPECT_EQ(out["tcp 203.0.113.11 80 #before"], "refused") << r.out;  // not allowed yet
  EXPECT_EQ(out["resolve x.wild.test"], "203.0.113.10") << r.out;
  EXPECT_EQ(out["dns 127.0.0.53 wild.test A"], "rcode=5") << r.out;      // not the apex
  EXPECT_EQ(out["dns 127.0.0.53 a.x.wild.test A"], "rcode=5") << r.out;  // one label only
  EXPECT_EQ(out["waitresolve allowed.test 203.0.113.11 20"], "ok") << r.out;
  EXPECT_EQ(out["tcp 203.0.113.11 80 #after"], "ok") << r.out;
}

// Root inside the sandbox tries to tear the rules down. Relies on the sandbox hardening (no
// CAP_NET_ADMIN for the workload); the rules must survive whatever the attempt returns.
TEST_F(EgressRun, WorkloadCannotFlushOrAlterTheRules) {
  auto out =
      checks({"--egress-allow", "203.0.113.10/32"},
             {"tcp 203.0.113.11 80 #before", "sh nft flush ruleset",
              "sh nft delete table inet nucleus-egress",
              "sh nft add rule inet nucleus-egress output accept", "netlink",
              "tcp 203.0.113.11 80 #after", "tcp 2001:db8:113::11 80", "tcp 203.0.113.10 80"});
  EXPECT_EQ(out["tcp 203.0.113.11 80 #before"], "refused") << last_err_;
  EXPECT_EQ(out["tcp 203.0.113.11 80 #after"], "refused");
  EXPECT_EQ(out["tcp 2001:db8:113::11 80"], "refused");
  EXPECT_EQ(out["tcp 203.0.113.10 80"], "ok");
  EXPECT_NE(out["netlink"], "ok") << "the workload can open an nftables netlink socket";
}

// Fail closed: when the supervisor dies the rules stay. Whatever still runs in the sandbox (if
// anything survives its supervisor) remains confined.
TEST_F(EgressRun, SupervisorDeathOpensNothing) {
  Spawned run(nucleus_argv(run_args({"--name", "orphan", "--egress-allow", "203.0.113.10/32"},
                                    {"touch /gate/ready", "wait /gate/killed 30",
                                     "tcp 203.0.113.11 80 #after", "tcp 203.0.113.10 80 #after"})));
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(scratch_ + "/ready"); }, 30s));
  run.signal(SIGKILL);  // `ip netns exec` execs nucleus: this is the supervisor
  std::ofstream(scratch_ + "/killed") << "go";
  // Output is collected until the workload, if it outlived the supervisor, is done too.
  auto r = run.wait(30s);
  EXPECT_EQ(r.status, 128 + SIGKILL);
  auto out = parse(r.out);
  EXPECT_NE(out["tcp 203.0.113.11 80 #after"], "ok") << r.out;
}

TEST_F(EgressRun, FlagsWithHostOrNoNetwork) {
  auto host = nucleus({"run", "--network", "host", "--allow-host-network", "--egress-domain",
                       "allowed.test", "--", "/bin/true"});
  EXPECT_EQ(host.status, 125);
  EXPECT_NE(host.err.find("--egress-domain"), std::string::npos) << host.err;

  auto none = nucleus({"run", "--egress-allow", "203.0.113.10/32", "--", "/bin/true"});
  EXPECT_EQ(none.status, 0) << none.err;
  EXPECT_NE(none.err.find("--egress-allow"), std::string::npos) << none.err;  // the notice

  auto bad = nucleus({"run", "--network", "bridge", "--dns", "198.51.100.2", "--egress-domain",
                      "*.test", "--", "/bin/true"});
  EXPECT_EQ(bad.status, 125);
  EXPECT_NE(bad.err.find("--egress-domain"), std::string::npos) << bad.err;

  auto both = nucleus({"run", "--network", "bridge", "--dns", "198.51.100.2", "--egress-deny-all",
                       "--egress-allow", "203.0.113.10/32", "--", "/bin/true"});
  EXPECT_EQ(both.status, 125);
  EXPECT_NE(both.err.find("--egress-deny-all"), std::string::npos) << both.err;
}

TEST_F(EgressRun, DenyAllBlocksEvenDns) {
  auto out = checks({"--egress-deny-all"},
                    {"tcp 203.0.113.10 80", "dns 198.51.100.2 allowed.test A", "tcp 127.0.0.1 9"});
  EXPECT_EQ(out["tcp 203.0.113.10 80"], "refused") << last_err_;
  EXPECT_TRUE(denied_fast(out["dns 198.51.100.2 allowed.test A"]));
  EXPECT_EQ(out["tcp 127.0.0.1 9"], "refused");  // loopback stays usable (nothing listens)
}

}  // namespace
}  // namespace nucleus::testing
