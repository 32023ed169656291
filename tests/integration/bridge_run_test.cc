// Root tests of `nucleus run --network bridge` (kernel backend) through the real binary, inside a
// TestNetwork: outbound NAT, isolation between sandboxes, published TCP/UDP ports, hairpin,
// IPv6, bridge/subnet/ip flags. Lifecycle and teardown tests are in bridge_lifecycle_test.cc.
#include <set>

#include "tests/integration/bridge_support.h"

namespace nucleus::testing {
namespace {

TEST_F(BridgeTest, SandboxReachesUpstreamOverTcpAndUdp) {
  std::string before = snapshot();
  auto r = nucleus(bridge_args({}, {"/bin/sh", "-c",
                                    std::string(kPython) + " -c \"$0\" probe tcp 203.0.113.10 8080 && " +
                                        kPython + " -c \"$0\" probe udp 203.0.113.11 8081",
                                    kAgent}));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "ok tcp-up\nok udp-up\n");
  EXPECT_EQ(snapshot_after_exit(before), before);
}

// The isolation policy (net/kernel/nft_nat.h): sandboxes on one bridge never reach each other,
// directly or through each other's published ports, with or without br_netfilter; each still
// reaches the gateway (host), upstream and its own published ports (hairpin).
TEST_F(BridgeTest, SandboxesAreIsolatedButReachHostUpstreamAndTheirOwnPorts) {
  net_->spawn_host(std::string("exec ") + kPython + " " + agent_ + " host");
  ASSERT_TRUE(eventually([&] { return probe_from_host("tcp", "198.51.100.1", 8080) == "ok tcp-host"; }));
  ASSERT_TRUE(start_agent("a", "10.0.42.10", {"-p", "9101:8080", "-p", "9102:8081/udp"}));
  ASSERT_TRUE(start_agent("b", "10.0.42.11", {"-p", "9201:8080", "-p", "9202:8081/udp"}));
  ASSERT_EQ(net_->sh_host("cat /proc/sys/net/bridge/bridge-nf-call-iptables").out, "1\n");

  for (const char* mode : {"br_netfilter on", "br_netfilter off"}) {
    SCOPED_TRACE(mode);
    struct Peer {
      std::string self, ip, other_ip, own_tcp, own_udp, other_tcp, other_udp;
    };
    for (const Peer& p : {Peer{"a", "10.0.42.10", "10.0.42.11", "9101", "9102", "9201", "9202"},
                          Peer{"b", "10.0.42.11", "10.0.42.10", "9201", "9202", "9101", "9102"}}) {
      SCOPED_TRACE("from " + p.self);
      // {probe, expected answer}; "fail" matches any failure.
      std::vector<std::pair<std::string, std::string>> cases = {
          // Never each other: directly, or through the other's published ports.
          {"tcp " + p.other_ip + " 8080", "fail"},
          {"udp " + p.other_ip + " 8081", "fail"},
          // The gateway (host) and upstream.
          {"tcp 10.0.42.1 8080", "ok tcp-host"},
          {"tcp 203.0.113.10 8080", "ok tcp-up"},
          {"udp 203.0.113.10 8081", "ok udp-up"},
      };
      for (const char* host : {"198.51.100.1", "10.0.42.1"}) {
        std::string h = host;
        cases.push_back({"tcp " + h + " " + p.other_tcp, "fail"});
        cases.push_back({"udp " + h + " " + p.other_udp, "fail"});
        // Hairpin: its own published ports through a host address.
        cases.push_back({"tcp " + h + " " + p.own_tcp, "ok tcp-" + p.self});
        cases.push_back({"udp " + h + " " + p.own_udp, "ok udp-" + p.self});
      }
      std::vector<std::string> probes;
      for (const auto& c : cases) probes.push_back(c.first);
      auto results = probes_from_sandbox(p.ip, probes);
      ASSERT_EQ(results.size(), cases.size()) << ::testing::PrintToString(results);
      for (size_t i = 0; i < cases.size(); ++i) {
        if (cases[i].second == "fail") {
          EXPECT_EQ(results[i].substr(0, 4), "fail") << cases[i].first << ": " << results[i];
        } else {
          EXPECT_EQ(results[i], cases[i].second) << cases[i].first;
        }
      }
      // The world still reaches the published ports.
      EXPECT_EQ(probe_from_upstream("tcp", "198.51.100.1", std::stoi(p.own_tcp)), "ok tcp-" + p.self);
      EXPECT_EQ(probe_from_upstream("udp", "198.51.100.1", std::stoi(p.own_udp)), "ok udp-" + p.self);
    }
    ASSERT_EQ(net_->sh_host("sysctl -qw net.bridge.bridge-nf-call-iptables=0 "
                            "net.bridge.bridge-nf-call-ip6tables=0").status, 0);
  }
  EXPECT_EQ(stop_all(), (std::vector<int>{0, 0}));
}

TEST_F(BridgeTest, TwentyConcurrentSandboxesGetDistinctAddressesAndAllReachUpstream) {
  constexpr int kCount = 20;
  for (int i = 0; i < kCount; ++i) {
    std::vector<std::string> flags = {"--name", "s" + std::to_string(i)};
    sandboxes_.push_back(std::make_unique<Spawned>(
        nucleus_argv(bridge_args(flags, agent_cmd({"s" + std::to_string(i)})))));
  }
  std::set<std::string> addresses;
  for (int i = 0; i < kCount; ++i) {
    std::string name = "s" + std::to_string(i);
    std::string ip;
    ASSERT_TRUE(eventually([&] {
      auto net = network_of(name);
      if (!net.contains("ipv4")) return false;
      ip = net["ipv4"].get<std::string>();
      return probe_from_host("tcp", ip, 8080) == "ok tcp-" + name;
    }, std::chrono::seconds(60))) << name;
    addresses.insert(ip);
  }
  EXPECT_EQ(addresses.size(), static_cast<size_t>(kCount));
  for (const std::string& ip : addresses)
    EXPECT_EQ(probe_from_sandbox(ip, "tcp", "203.0.113.10", 8080), "ok tcp-up") << ip;
  for (int status : stop_all()) EXPECT_EQ(status, 0);
}

TEST_F(BridgeTest, PublishedTcpAndUdpPortsFromUpstreamHostAndLoopback) {
  ASSERT_TRUE(start_agent("pub", "10.0.42.20",
                          {"-p", "8080:8080", "-p", "8081:8081/udp", "-p", "127.0.0.1:8082:8080",
                           "-p", "127.0.0.1:8083:8081/udp"}));
  EXPECT_EQ(probe_from_upstream("tcp", "198.51.100.1", 8080), "ok tcp-pub");
  EXPECT_EQ(probe_from_upstream("udp", "198.51.100.1", 8081), "ok udp-pub");
  EXPECT_EQ(probe_from_host("tcp", "198.51.100.1", 8080), "ok tcp-pub");
  EXPECT_EQ(probe_from_host("udp", "198.51.100.1", 8081), "ok udp-pub");
  EXPECT_EQ(probe_from_host("tcp", "127.0.0.1", 8082), "ok tcp-pub");
  EXPECT_EQ(probe_from_host("udp", "127.0.0.1", 8083), "ok udp-pub");
  // Published on 127.0.0.1 only: not reachable from upstream, nor from the host's other addresses.
  EXPECT_EQ(probe_from_upstream("tcp", "198.51.100.1", 8082).substr(0, 4), "fail");
  EXPECT_EQ(probe_from_upstream("udp", "198.51.100.1", 8083).substr(0, 4), "fail");
  EXPECT_EQ(probe_from_host("tcp", "198.51.100.1", 8082).substr(0, 4), "fail");
  EXPECT_EQ(stop_all(), std::vector<int>{0});
}

TEST_F(BridgeTest, PortAlreadyBoundOrPublishedIsExit125NamingThePort) {
  std::string before = snapshot();
  net_->spawn_host(std::string("exec ") + kPython + " " + agent_ + " host");  // tcp 8080, udp 8081
  ASSERT_TRUE(eventually([&] { return probe_from_host("udp", "127.0.0.1", 8081) == "ok udp-host"; }));
  auto tcp = nucleus(bridge_args({"-p", "8080:80"}, {"/bin/true"}));
  EXPECT_EQ(tcp.status, 125);
  EXPECT_NE(tcp.err.find("8080"), std::string::npos) << tcp.err;
  auto udp = nucleus(bridge_args({"-p", "8081:81/udp"}, {"/bin/true"}));
  EXPECT_EQ(udp.status, 125);
  EXPECT_NE(udp.err.find("8081"), std::string::npos) << udp.err;

  ASSERT_TRUE(start_agent("first", "10.0.42.30", {"-p", "9300:8080"}));
  auto dup = nucleus(bridge_args({"-p", "198.51.100.1:9300:80"}, {"/bin/true"}));
  EXPECT_EQ(dup.status, 125);
  EXPECT_NE(dup.err.find("9300"), std::string::npos) << dup.err;
  EXPECT_EQ(probe_from_upstream("tcp", "198.51.100.1", 9300), "ok tcp-first");  // untouched
  EXPECT_EQ(stop_all(), std::vector<int>{0});
  net_->sh_host("pkill -f 'agent.py host'");
  ASSERT_TRUE(eventually([&] { return probe_from_host("tcp", "127.0.0.1", 8080).substr(0, 4) == "fail"; }));
  EXPECT_EQ(snapshot_after_exit(before), before);
}

TEST_F(BridgeTest, ForwardingWorksWhenTheHostForwardPolicyIsDrop) {
  add_forward_drop_policy();
  std::string before = snapshot();
  ASSERT_TRUE(start_agent("fw", "10.0.42.40",
                          {"--ipv6", "-p", "8080:8080", "-p", "8081:8081/udp"}));
  EXPECT_EQ(probe_from_sandbox("10.0.42.40", "tcp", "203.0.113.10", 8080), "ok tcp-up");
  EXPECT_EQ(probe_from_sandbox("10.0.42.40", "udp", "203.0.113.10", 8081), "ok udp-up");
  EXPECT_EQ(probe_from_sandbox("10.0.42.40", "tcp", "2001:db8:113::10", 8080), "ok tcp-up");
  EXPECT_EQ(probe_from_upstream("tcp", "198.51.100.1", 8080), "ok tcp-fw");
  EXPECT_EQ(probe_from_upstream("udp", "198.51.100.1", 8081), "ok udp-fw");
  EXPECT_EQ(probe_from_upstream("tcp", "2001:db8:100::1", 8080), "ok tcp-fw");
  // The host's policy still applies to everything that is not ours.
  EXPECT_NE(net_->sh_host("nft list chain ip filter FORWARD").out.find("policy drop"),
            std::string::npos);
  EXPECT_EQ(stop_all(), std::vector<int>{0});
  EXPECT_EQ(snapshot_after_exit(before), before);
}

TEST_F(BridgeTest, Ipv6DualStackMasqueradeAndPublishing) {
  ASSERT_TRUE(start_agent("six", "10.0.42.60",
                          {"--ipv6", "--subnet6", "fd00:77::/64", "-p", "8080:8080", "-p",
                           "8081:8081/udp", "-p", "[2001:db8:100::1]:8082:8080"}));
  auto net = network_of("six");
  ASSERT_TRUE(net.contains("ipv6")) << net.dump();
  EXPECT_EQ(net["ipv6"].get<std::string>().rfind("fd00:77::", 0), 0u) << net.dump();
  EXPECT_EQ(net["gateway6"], "fd00:77::1");
  // Upstream has no route to fd00:77::/64: only IPv6 masquerade makes these work.
  EXPECT_EQ(probe_from_sandbox("10.0.42.60", "tcp", "2001:db8:113::10", 8080), "ok tcp-up");
  EXPECT_EQ(probe_from_sandbox("10.0.42.60", "udp", "2001:db8:113::11", 8081), "ok udp-up");
  EXPECT_EQ(probe_from_sandbox("10.0.42.60", "tcp", "203.0.113.10", 8080), "ok tcp-up");
  EXPECT_EQ(probe_from_upstream("tcp", "2001:db8:100::1", 8080), "ok tcp-six");
  EXPECT_EQ(probe_from_upstream("udp", "2001:db8:100::1", 8081), "ok udp-six");
  EXPECT_EQ(probe_from_upstream("tcp", "2001:db8:100::1", 8082), "ok tcp-six");
  EXPECT_EQ(probe_from_upstream("tcp", "198.51.100.1", 8082).substr(0, 4), "fail");  // v6 only
  EXPECT_EQ(probe_from_upstream("tcp", "198.51.100.1", 8080), "ok tcp-six");
  // Hairpin over IPv6.
  EXPECT_EQ(probe_from_sandbox("10.0.42.60", "tcp", "2001:db8:100::1", 8080), "ok tcp-six");
  EXPECT_EQ(stop_all(), std::vector<int>{0});
}

TEST_F(BridgeTest, BridgeSubnetAndStaticIpFlags) {
  std::string before = snapshot();
  ASSERT_TRUE(start_agent("own", "10.88.0.5", {"--bridge", "nbtest0", "--subnet", "10.88.0.0/29"}));
  auto addr = net_->sh_host("ip -o -4 addr show dev nbtest0").out;
  EXPECT_NE(addr.find("10.88.0.1/29"), std::string::npos) << addr;
  EXPECT_EQ(network_of("own")["ipv4"], "10.88.0.5");
  EXPECT_EQ(probe_from_sandbox("10.88.0.5", "tcp", "203.0.113.10", 8080), "ok tcp-up");
  // The address is taken: refused, naming it.
  auto taken = nucleus(bridge_args({"--bridge", "nbtest0", "--subnet", "10.88.0.0/29", "--ip",
                                    "10.88.0.5"}, {"/bin/true"}));
  EXPECT_EQ(taken.status, 125);
  EXPECT_NE(taken.err.find("10.88.0.5"), std::string::npos) << taken.err;
  for (const char* bad : {"10.88.0.0/15", "10.88.0.0/30"}) {
    auto r = nucleus(bridge_args({"--subnet", bad}, {"/bin/true"}));
    EXPECT_EQ(r.status, 125) << bad;
    EXPECT_NE(r.err.find("--subnet"), std::string::npos) << r.err;
  }
  EXPECT_EQ(stop_all(), std::vector<int>{0});
  EXPECT_EQ(snapshot_after_exit(before), before);
}

}  // namespace
}  // namespace nucleus::testing
