// NAT table (net/kernel/nft_nat.h) with real traffic, inside a throwaway TestNetwork:
//   upstream (203.0.113.10 services) -- host [uplink 198.51.100.1, bridge ntbr0 192.0.2.1]
//                                             -- veth -- sandbox netns (eth0 192.0.2.2)
// The bridge + veth are made with `ip` here (tests may); the product code under test only builds
// nftables tables through libnftnl.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "core/base/unique_fd.h"
#include "net/kernel/nft_forward.h"
#include "net/kernel/nft_nat.h"
#include "tests/support/command.h"
#include "tests/support/netns.h"

namespace nucleus::net::nft {
namespace {

using nucleus::testing::CommandResult;
using nucleus::testing::eventually;
using nucleus::testing::run;
using nucleus::testing::sh;
using nucleus::testing::TestNetwork;

// A TCP server that answers every connection with the peer's address, then closes.
constexpr const char* kPeerServer = R"(import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
while True:
    c, a = s.accept()
    c.sendall(a[0].encode())
    c.close()
)";

// Connects and prints what the server said; exit 1 on refusal/timeout.
constexpr const char* kClient = R"(import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    print(c.recv(100).decode())
except Exception as e:
    print(type(e).__name__)
    sys.exit(1)
)";

std::string write_script(const std::string& name, const char* body) {
  std::string path = "/tmp/nft-test-" + std::to_string(getpid()) + "-" + name + ".py";
  std::ofstream(path) << body;
  return path;
}

class NatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(net_.ok());
    sandbox_ = net_.host() + "s";
    server_ = write_script("server", kPeerServer);
    client_ = write_script("client", kClient);
    const std::string& h = net_.host();
    std::string script =
        "set -e\n"
        "ip netns add " + sandbox_ + "\n"
        "ip -n " + sandbox_ + " link set lo up\n"
        "ip -n " + h + " link add ntbr0 type bridge\n"
        "ip -n " + h + " addr add 192.0.2.1/24 dev ntbr0\n"
        "ip -n " + h + " addr add 2001:db8:42::1/64 dev ntbr0 nodad\n"
        "ip -n " + h + " link set ntbr0 up\n"
        "ip -n " + h + " link add ntv0 type veth peer name eth0 netns " + sandbox_ + "\n"
        "ip -n " + h + " link set ntv0 master ntbr0 up\n"
        // A sandbox reaching itself through its own published port is routed back out of the
        // bridge port it came in on; the bridge only allows that with hairpin mode on the port.
        "ip -n " + h + " link set ntv0 type bridge_slave hairpin on\n"
        "ip -n " + sandbox_ + " addr add 192.0.2.2/24 dev eth0\n"
        "ip -n " + sandbox_ + " addr add 2001:db8:42::2/64 dev eth0 nodad\n"
        "ip -n " + sandbox_ + " link set eth0 up\n"
        "ip -n " + sandbox_ + " route add default via 192.0.2.1\n"
        "ip -n " + sandbox_ + " -6 route add default via 2001:db8:42::1\n"
        "ip netns exec " + h + " sysctl -qw net.ipv4.ip_forward=1\n"
        "ip netns exec " + h + " sysctl -qw net.ipv6.conf.all.forwarding=1\n"
        "ip netns exec " + h + " sysctl -qw net.ipv4.conf.ntbr0.route_localnet=1\n";
    CommandResult r = sh(script);
    ASSERT_EQ(r.status, 0) << r.err;
    host_fd_ = UniqueFd(::open(("/run/netns/" + h).c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(host_fd_.valid());
    // Upstream services that report the source address they saw.
    net_.spawn_upstream("python3 " + server_ + " 203.0.113.10 8000");
    net_.spawn_upstream("python3 " + server_ + " 2001:db8:113::10 8000");
    spawn_sandbox("python3 " + server_ + " 0.0.0.0 80");
    spawn_sandbox("python3 " + server_ + " :: 81");
    ASSERT_TRUE(eventually([&] {
      return sh("ip netns exec " + sandbox_ + " ss -Htln | grep -q ':80 '").status == 0 &&
             net_.sh_upstream("ss -Htln | grep -q ':8000 '").status == 0;
    }));
  }

  void TearDown() override {
    sh("ip netns pids " + sandbox_ + " 2>/dev/null | xargs -r kill -9; ip netns del " + sandbox_ +
       " 2>/dev/null");
    ::unlink(server_.c_str());
    ::unlink(client_.c_str());
  }

  void spawn_sandbox(const std::string& cmd) {
    sh("ip netns exec " + sandbox_ + " setsid " + cmd + " </dev/null >/dev/null 2>&1 &");
  }

  // Runs the client in namespace `ns`; returns what the server saw as our address, or "".
  std::string connect_from(const std::string& ns, const std::string& addr, int port) {
    CommandResult r = run({"ip", "netns", "exec", ns, "python3", client_, addr,
                           std::to_string(port)}, std::chrono::seconds(10));
    if (r.status != 0) return "";
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }

  NatTableSpec spec(std::vector<PortMapping> ports = {}) {
    NatTableSpec s;
    s.sandbox_id = "t" + std::to_string(getpid());
    s.bridge = "ntbr0";
    s.address4 = IpAddress::parse("192.0.2.2").value();
    s.address6 = IpAddress::parse("2001:db8:42::2").value();
    s.subnet4 = Cidr::parse("192.0.2.0/24").value();
    s.subnet6 = Cidr::parse("2001:db8:42::/64").value();
    s.ports = std::move(ports);
    s.netns_fd = host_fd_.get();
    return s;
  }

  bool table_listed(const std::string& name) {
    return net_.in_host({"nft", "list", "tables"}).out.find(name) != std::string::npos;
  }

  static PortMapping port(uint16_t host, uint16_t container, const char* ip = nullptr) {
    PortMapping p;
    p.host_port = host;
    p.container_port = container;
    if (ip != nullptr) p.host_ip = IpAddress::parse(ip).value();
    return p;
  }

  TestNetwork net_;
  std::string sandbox_, server_, client_;
  UniqueFd host_fd_;
};

TEST_F(NatTest, SandboxTrafficIsMasqueradedUpstream) {
  // Without NAT upstream has no route back to 192.0.2.0/24.
  EXPECT_EQ(connect_from(sandbox_, "203.0.113.10", 8000), "");
  auto table = NatTable::create(spec());
  ASSERT_TRUE(table) << table.error().message();
  EXPECT_TRUE(table->owned_by_socket());
  EXPECT_EQ(connect_from(sandbox_, "203.0.113.10", 8000), "198.51.100.1");
  EXPECT_EQ(connect_from(sandbox_, "2001:db8:113::10", 8000), "2001:db8:100::1");
}

TEST_F(NatTest, PublishedPortsReachTheSandbox) {
  auto table = NatTable::create(spec({port(8080, 80), port(8081, 81)}));
  ASSERT_TRUE(table) << table.error().message();
  // From another host: DNAT keeps the client's address.
  EXPECT_EQ(connect_from(net_.upstream(), "198.51.100.1", 8080), "198.51.100.2");
  EXPECT_EQ(connect_from(net_.upstream(), "2001:db8:100::1", 8081), "2001:db8:100::2");
  // From the host itself, to its own address and to 127.0.0.1 (fib daddr type local).
  EXPECT_NE(connect_from(net_.host(), "198.51.100.1", 8080), "");
  EXPECT_NE(connect_from(net_.host(), "127.0.0.1", 8080), "");
  // Hairpin: the sandbox reaches itself through the host's published port.
  EXPECT_NE(connect_from(sandbox_, "198.51.100.1", 8080), "");
  // An unpublished port stays closed.
  EXPECT_EQ(connect_from(net_.upstream(), "198.51.100.1", 8082), "");
}

TEST_F(NatTest, LoopbackPublishIsLocalOnly) {
  auto table = NatTable::create(spec({port(9090, 80, "127.0.0.1")}));
  ASSERT_TRUE(table) << table.error().message();
  EXPECT_EQ(connect_from(net_.host(), "127.0.0.1", 9090), "192.0.2.1");  // masqueraded
  EXPECT_EQ(connect_from(net_.upstream(), "198.51.100.1", 9090), "");
  // Worst case: upstream routes 127.0.0.1 to us and the host accepts 127/8 on its uplink.
  CommandResult r = net_.sh_upstream(
      "set -e; sysctl -qw net.ipv4.conf.all.route_localnet=1;"
      "sysctl -qw net.ipv4.conf.downlink.route_localnet=1;"
      "ip rule add pref 1 to 127.0.0.1 lookup 100;"
      "ip route add 127.0.0.1/32 via 198.51.100.1 dev downlink src 198.51.100.2 table 100;"
      "ip rule del pref 0; ip rule add pref 10 lookup local");
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(net_.sh_host("sysctl -qw net.ipv4.conf.all.route_localnet=1;"
                         "sysctl -qw net.ipv4.conf.uplink.route_localnet=1").status, 0);
  EXPECT_EQ(connect_from(net_.upstream(), "127.0.0.1", 9090), "");
  // ...and the sandbox side of the bridge cannot reach the host's loopback either.
  net_.spawn_host("python3 " + server_ + " 127.0.0.1 7000");
  ASSERT_TRUE(eventually([&] { return connect_from(net_.host(), "127.0.0.1", 7000) != ""; }));
  r = sh("ip netns exec " + sandbox_ + " /bin/sh -c 'set -e;"
         "sysctl -qw net.ipv4.conf.all.route_localnet=1;"
         "sysctl -qw net.ipv4.conf.eth0.route_localnet=1;"
         "ip rule add pref 1 to 127.0.0.1 lookup 100;"
         "ip route add 127.0.0.1/32 via 192.0.2.1 dev eth0 src 192.0.2.2 table 100;"
         "ip rule del pref 0; ip rule add pref 10 lookup local'");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(connect_from(sandbox_, "127.0.0.1", 7000), "");
}

TEST_F(NatTest, SetPortsReplacesMappingsAtomically) {
  auto table = NatTable::create(spec({port(8080, 80)}));
  ASSERT_TRUE(table) << table.error().message();
  EXPECT_NE(connect_from(net_.upstream(), "198.51.100.1", 8080), "");
  std::vector<PortMapping> next{port(8090, 80)};
  ASSERT_TRUE(table->set_ports(next));
  EXPECT_EQ(connect_from(net_.upstream(), "198.51.100.1", 8080), "");
  EXPECT_NE(connect_from(net_.upstream(), "198.51.100.1", 8090), "");
}

TEST_F(NatTest, DestroyAndDeleteAreIdempotent) {
  auto table = NatTable::create(spec());
  ASSERT_TRUE(table) << table.error().message();
  std::string name = table->name();
  EXPECT_TRUE(table_listed(name));
  // A second table for the same id is refused with an error naming it.
  auto twice = NatTable::create(spec());
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message().find(name), std::string::npos) << twice.error().message();
  // While its owner lives, nobody else may delete it.
  auto foreign = delete_nat_table(name, host_fd_.get());
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, EPERM);
  table->destroy();
  table->destroy();
  EXPECT_FALSE(table_listed(name));
  EXPECT_TRUE(delete_nat_table(name, host_fd_.get()));
}

TEST_F(NatTest, TableDiesWithItsOwnerProcess) {
  NatTableSpec child_spec = spec();  // before fork: the id includes our pid
  std::string name = nat_table_name(child_spec.sandbox_id);
  int to_parent[2], to_child[2];
  ASSERT_EQ(pipe2(to_parent, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(to_child, O_CLOEXEC), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto table = NatTable::create(child_spec);
    char ok = table ? '1' : '0';
    (void)!write(to_parent[1], &ok, 1);
    (void)!read(to_child[0], &ok, 1);
    _exit(0);  // no destructor: only the kernel's owner-flag cleanup can remove the table
  }
  char ok = 0;
  ASSERT_EQ(read(to_parent[0], &ok, 1), 1);
  EXPECT_EQ(ok, '1');
  EXPECT_TRUE(table_listed(name));
  (void)!write(to_child[1], &ok, 1);
  int status = 0;
  waitpid(pid, &status, 0);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) close(fd);
  EXPECT_TRUE(eventually([&] { return !table_listed(name); }));
}

TEST_F(NatTest, ForwardingSurvivesAForeignDropPolicy) {
  // What `iptables -P FORWARD DROP` leaves on an iptables-nft host.
  ASSERT_EQ(net_.sh_host("nft add table ip filter && nft add chain ip filter FORWARD "
                         "'{ type filter hook forward priority 0; policy drop; }'").status, 0);
  auto table = NatTable::create(spec({port(8080, 80)}));
  ASSERT_TRUE(table) << table.error().message();
  EXPECT_EQ(connect_from(sandbox_, "203.0.113.10", 8000), "");  // our accept does not override

  std::string id = spec().sandbox_id;
  auto chains = find_drop_forward_chains(host_fd_.get());
  ASSERT_TRUE(chains) << chains.error().message();
  ASSERT_EQ(chains->size(), 1u);
  EXPECT_EQ((*chains)[0].table, "filter");
  EXPECT_EQ((*chains)[0].chain, "FORWARD");

  auto rules = allow_bridge_forwarding(id, "ntbr0", host_fd_.get());
  ASSERT_TRUE(rules) << rules.error().message();
  ASSERT_EQ(rules->size(), 2u);
  EXPECT_NE(net_.in_host({"nft", "list", "chain", "ip", "filter", "FORWARD"}).out.find(
                "nucleus:" + id), std::string::npos);
  EXPECT_EQ(connect_from(sandbox_, "203.0.113.10", 8000), "198.51.100.1");
  EXPECT_EQ(connect_from(net_.upstream(), "198.51.100.1", 8080), "198.51.100.2");

  // Journal round trip, then undo; undo again is fine (already gone).
  for (const ForeignRule& r : *rules) {
    auto back = foreign_rule_from_json(to_json(r));
    ASSERT_TRUE(back);
    EXPECT_EQ(journal_key(*back), journal_key(r));
    EXPECT_TRUE(delete_foreign_rule(*back, host_fd_.get()));
    EXPECT_TRUE(delete_foreign_rule(*back, host_fd_.get()));
  }
  EXPECT_EQ(net_.in_host({"nft", "list", "chain", "ip", "filter", "FORWARD"}).out.find("nucleus:"),
            std::string::npos);
  EXPECT_EQ(connect_from(sandbox_, "203.0.113.10", 8000), "");
  // gc path without handles.
  ASSERT_TRUE(allow_bridge_forwarding(id, "ntbr0", host_fd_.get()));
  EXPECT_TRUE(delete_rules_tagged(id, host_fd_.get()));
  EXPECT_EQ(net_.in_host({"nft", "list", "chain", "ip", "filter", "FORWARD"}).out.find("nucleus:"),
            std::string::npos);
  // The foreign table itself is gone: undo tolerates it.
  ASSERT_EQ(net_.sh_host("nft delete table ip filter").status, 0);
  EXPECT_TRUE(delete_foreign_rule((*rules)[0], host_fd_.get()));
}

TEST(NatTableName, FitsAndStaysUnique) {
  EXPECT_EQ(nat_table_name("ab12"), "nucleus-ab12");
  std::string a = nat_table_name(std::string(100, 'a'));
  std::string b = nat_table_name(std::string(99, 'a') + "b");
  EXPECT_LE(a.size(), 64u);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace nucleus::net::nft
