// Root test: KernelBackend end to end inside a TestNetwork. The test body runs on a thread that
// joined the throwaway "host" namespace, so the bridge, NAT tables and sysctls live there; each
// "sandbox" is another throwaway namespace. Checks use `ip -j` / `nft -j` and real connections.
#include "net/kernel/kernel_backend.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/base/fs.h"
#include "net/ipam.h"
#include "net/kernel/sysctl.h"
#include "net/kernel/undo.h"
#include "tests/support/netns.h"
#include "tests/support/netns_helpers.h"

namespace nucleus::net::kernel {
namespace {

using nucleus::testing::TestNetwork;
using nucleus::testing::in_netns;
using nucleus::testing::ip_json;

IpAddress ip(std::string_view text) { return *IpAddress::parse(text); }
Cidr cidr(std::string_view text) { return *Cidr::parse(text); }

// Everything the issue says must be exactly as before once a sandbox is gone.
std::string host_snapshot(const TestNetwork& net) {
  auto r = net.sh_host(
      "ip -j link show; ip -j addr show; ip -j route show; ip -6 -j route show; nft list ruleset; "
      "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding");
  EXPECT_EQ(r.status, 0) << r.err;
  return r.out;
}

// A listening TCP socket made inside namespace `ns` (it stays there); returns the fd.
UniqueFd listen_in(const std::string& ns, const std::string& address, uint16_t port) {
  UniqueFd out;
  in_netns(ns, [&] {
    auto a = ip(address);
    UniqueFd s(socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(s.valid());
    int one = 1;
    setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t len;
    if (a.is_v4()) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
      sin->sin_family = AF_INET;
      sin->sin_port = htons(port);
      std::memcpy(&sin->sin_addr, a.bytes.data(), 4);
      len = sizeof(sockaddr_in);
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(port);
      std::memcpy(&sin6->sin6_addr, a.bytes.data(), 16);
      len = sizeof(sockaddr_in6);
    }
    ASSERT_EQ(bind(s.get(), reinterpret_cast<sockaddr*>(&ss), len), 0) << strerror(errno);
    ASSERT_EQ(listen(s.get(), 8), 0);
    out = std::move(s);
  });
  return out;
}

bool connects(const std::string& ns, const std::string& address, uint16_t port) {
  std::string host = address.find(':') != std::string::npos ? address : address;
  auto r = nucleus::testing::run({"ip", "netns", "exec", ns, "bash", "-c",
                                  "exec 3<>/dev/tcp/" + host + "/" + std::to_string(port)},
                                 std::chrono::seconds(15));
  return r.status == 0;
}

class KernelBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(net_.ok());
    ASSERT_TRUE(sbx_.ok());
    char tmpl[] = "/tmp/nucleus-kb-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    auto j = Journal::open(root_ + "/journal");
    ASSERT_TRUE(j);
    journal_ = std::move(*j);
    // A fresh namespace starts with forwarding off; make it explicit so "restored" means "0".
    in_netns(net_.host(), [] {
      ASSERT_TRUE(write_sysctl("net/ipv4/ip_forward", "0"));
      ASSERT_TRUE(write_sysctl("net/ipv6/conf/all/forwarding", "0"));
    });
    // Link-local addresses of the fresh uplink may still be in DAD ("tentative"): wait until they
    // settle so the snapshot compares what nucleus could change, not the kernel's timers.
    ASSERT_TRUE(nucleus::testing::eventually(
        [&] { return net_.sh_host("ip -6 addr show tentative").out.empty(); },
        std::chrono::seconds(10)));
    before_ = host_snapshot(net_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  NetRequest request(std::string id) {
    NetRequest r;
    r.sandbox_id = std::move(id);
    r.state_root = root_;
    r.bridge = "nucleus0";
    r.subnet = cidr("10.0.42.0/24");
    r.subnet6 = cidr("fd00:42::/64");
    return r;
  }
  SandboxHandles handles(const nucleus::testing::NamedNetns& ns) { return {getpid(), ns.fd(), &journal_}; }
  std::vector<JournalEntry> pending() {
    auto p = Journal::pending(root_ + "/journal");
    EXPECT_TRUE(p);
    return p.value_or(std::vector<JournalEntry>{});
  }

  TestNetwork net_;
  nucleus::testing::NamedNetns sbx_{net_.host() + "a"};
  std::string root_;
  Journal journal_;
  std::string before_;
};

TEST_F(KernelBackendTest, AttachGivesConnectivityNatAndPortsAndDetachRestoresHost) {
  NetRequest req = request("sandbox-one");
  req.ipv6 = true;
  req.publish = {PortMapping{std::nullopt, 8080, 80, Protocol::kTcp}};
  KernelBackend backend;
  in_netns(net_.host(), [&] {
    auto att = backend.attach(req, handles(sbx_));
    ASSERT_TRUE(att) << att.error().message();
    EXPECT_EQ(att->interface, "eth0");
    EXPECT_EQ(att->address4, ip("10.0.42.2"));
    EXPECT_EQ(att->gateway4, ip("10.0.42.1"));
    EXPECT_EQ(att->address6, ip("fd00:42::2"));
    EXPECT_EQ(att->gateway6, ip("fd00:42::1"));
    EXPECT_EQ(*read_sysctl("net/ipv4/ip_forward"), "1");
    EXPECT_EQ(*read_sysctl("net/ipv6/conf/all/forwarding"), "1");
    std::string veth = host_veth_name("sandbox-one");
    EXPECT_EQ(*read_sysctl("net/ipv6/conf/" + veth + "/accept_ra"), "0");
    EXPECT_EQ(*read_sysctl("net/ipv6/conf/nucleus0/accept_ra"), "0");
  });
  ASSERT_FALSE(HasFailure());

  // Host side.
  std::string veth = host_veth_name("sandbox-one");
  EXPECT_LE(veth.size(), 15u);
  auto port = ip_json(net_.host(), "link show " + veth)[0];
  EXPECT_EQ(port["master"], "nucleus0");
  auto br = ip_json(net_.host(), "addr show nucleus0")[0];
  std::set<std::string> br_addrs;
  for (const auto& a : br["addr_info"]) br_addrs.insert(a["local"].get<std::string>());
  EXPECT_TRUE(br_addrs.contains("10.0.42.1"));
  EXPECT_TRUE(br_addrs.contains("fd00:42::1"));
  // Sandbox side.
  auto eth0 = ip_json(sbx_.name(), "addr show eth0")[0];
  EXPECT_EQ(eth0["mtu"], br["mtu"]);
  std::set<std::string> addrs;
  for (const auto& a : eth0["addr_info"]) addrs.insert(a["local"].get<std::string>());
  EXPECT_TRUE(addrs.contains("10.0.42.2"));
  EXPECT_TRUE(addrs.contains("fd00:42::2"));
  EXPECT_EQ(ip_json(sbx_.name(), "route show default")[0]["gateway"], "10.0.42.1");
  EXPECT_EQ(ip_json(sbx_.name(), "-6 route show default")[0]["gateway"], "fd00:42::1");
  auto lo = ip_json(sbx_.name(), "link show lo")[0];
  EXPECT_NE(std::find(lo["flags"].begin(), lo["flags"].end(), "UP"), lo["flags"].end());

  // Outbound through NAT: upstream has no route to 10.0.42.0/24, so only masquerade makes it work.
  UniqueFd upstream_listener = listen_in(net_.upstream(), "203.0.113.10", 7001);
  EXPECT_TRUE(connects(sbx_.name(), "203.0.113.10", 7001));
  // Published port: upstream -> host:8080 -> sandbox:80.
  UniqueFd sandbox_listener = listen_in(sbx_.name(), "0.0.0.0", 80);
  EXPECT_TRUE(connects(net_.upstream(), "198.51.100.1", 8080));

  // Journal holds every object while attached.
  std::set<std::string> kinds;
  for (const auto& e : pending()) kinds.insert(e.kind);
  for (const char* k : {"ipam", "bridge", "veth", "nft-table", "ip-forward"})
    EXPECT_TRUE(kinds.contains(k)) << k;

  in_netns(net_.host(), [&] { backend.detach(); });
  in_netns(net_.host(), [&] { backend.detach(); });  // idempotent
  EXPECT_TRUE(pending().empty());
  EXPECT_EQ(host_snapshot(net_), before_);
  EXPECT_TRUE(ipam::leases(root_, req.subnet)->empty());
}

TEST_F(KernelBackendTest, TwoSandboxesShareTheBridgeUntilTheLastLeaves) {
  nucleus::testing::NamedNetns second(net_.host() + "b");
  ASSERT_TRUE(second.ok());
  KernelBackend a, b;
  in_netns(net_.host(), [&] {
    auto att_a = a.attach(request("a"), handles(sbx_));
    ASSERT_TRUE(att_a) << att_a.error().message();
    NetRequest rb = request("b");
    rb.static_ip = ip("10.0.42.50");
    auto att_b = b.attach(rb, handles(second));
    ASSERT_TRUE(att_b) << att_b.error().message();
    EXPECT_EQ(att_b->address4, ip("10.0.42.50"));
  });
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(ip_json(net_.host(), "link show master nucleus0").size(), 2u);
  // Both reach the gateway over the shared bridge. (That they never reach each other is tested end
  // to end in bridge_run_test.cc, with and without br_netfilter.)
  UniqueFd listener = listen_in(net_.host(), "10.0.42.1", 9000);
  EXPECT_TRUE(connects(sbx_.name(), "10.0.42.1", 9000));
  EXPECT_TRUE(connects(second.name(), "10.0.42.1", 9000));

  in_netns(net_.host(), [&] {
    a.detach();
    EXPECT_EQ(*read_sysctl("net/ipv4/ip_forward"), "1");  // b still needs it
  });
  EXPECT_EQ(ip_json(net_.host(), "link show master nucleus0").size(), 1u);
  in_netns(net_.host(), [&] { b.detach(); });
  EXPECT_EQ(host_snapshot(net_), before_);
}

TEST_F(KernelBackendTest, FailureRollsBackAndNamesTheStep) {
  // A static address outside the subnet fails first.
  KernelBackend backend;
  in_netns(net_.host(), [&] {
    NetRequest req = request("bad-ip");
    req.static_ip = ip("10.9.9.9");
    auto att = backend.attach(req, handles(sbx_));
    ASSERT_FALSE(att);
    EXPECT_NE(att.error().message().find("reserve IP"), std::string::npos) << att.error().message();
  });
  EXPECT_EQ(host_snapshot(net_), before_);
  EXPECT_TRUE(pending().empty());

  // A "namespace" fd that is not a network namespace fails at the veth step, after the IPAM lease
  // and the bridge were made: both must be rolled back.
  auto not_ns = fs::open_fd("/dev/null", O_RDONLY);
  ASSERT_TRUE(not_ns);
  in_netns(net_.host(), [&] {
    auto att = backend.attach(request("bad-ns"), {getpid(), not_ns->get(), &journal_});
    ASSERT_FALSE(att);
    EXPECT_NE(att.error().message().find("veth"), std::string::npos) << att.error().message();
  });
  EXPECT_EQ(host_snapshot(net_), before_);
  EXPECT_TRUE(pending().empty());
  EXPECT_TRUE(ipam::leases(root_, cidr("10.0.42.0/24"))->empty());
}

TEST_F(KernelBackendTest, PublishedPortAlreadyBoundIsAClearError) {
  UniqueFd taken = listen_in(net_.host(), "0.0.0.0", 8443);
  KernelBackend backend;
  in_netns(net_.host(), [&] {
    NetRequest req = request("ports");
    req.publish = {PortMapping{std::nullopt, 8443, 443, Protocol::kTcp}};
    auto att = backend.attach(req, handles(sbx_));
    ASSERT_FALSE(att);
    EXPECT_EQ(att.error().code, EADDRINUSE);
    EXPECT_NE(att.error().message().find("8443"), std::string::npos) << att.error().message();
  });
  taken.reset();
  EXPECT_EQ(host_snapshot(net_), before_);
}

TEST_F(KernelBackendTest, TwoSandboxesCannotPublishTheSameHostPort) {
  nucleus::testing::NamedNetns second(net_.host() + "b");
  ASSERT_TRUE(second.ok());
  KernelBackend a, b;
  in_netns(net_.host(), [&] {
    NetRequest ra = request("a");
    ra.publish = {PortMapping{std::nullopt, 8080, 80, Protocol::kTcp}};
    ASSERT_TRUE(a.attach(ra, handles(sbx_)));
    NetRequest rb = request("b");
    rb.publish = {PortMapping{ip("198.51.100.1"), 8080, 80, Protocol::kTcp}};
    auto att = b.attach(rb, handles(second));
    ASSERT_FALSE(att);
    EXPECT_EQ(att.error().code, EADDRINUSE);
    EXPECT_NE(att.error().message().find("published by sandbox a"), std::string::npos)
        << att.error().message();
    // b's failure rolled back only b: a still publishes.
    EXPECT_TRUE(b.attach(request("b"), handles(second)));
    auto dup = b.publish(ra.publish);
    EXPECT_FALSE(dup);
  });
  UniqueFd listener = listen_in(sbx_.name(), "0.0.0.0", 80);
  EXPECT_TRUE(connects(net_.upstream(), "198.51.100.1", 8080));
  in_netns(net_.host(), [&] {
    a.detach();
    b.detach();
  });
  EXPECT_EQ(host_snapshot(net_), before_);
}

// detach() from a thread in another namespace (here: the test's main thread, in the real host
// namespace) must act on the namespace attach() ran in, and leave the caller's untouched.
TEST_F(KernelBackendTest, DetachFromAnotherNamespaceActsWhereAttachRan) {
  auto real_forward = read_sysctl("net/ipv4/ip_forward");
  ASSERT_TRUE(real_forward);
  {
    KernelBackend backend;
    in_netns(net_.host(), [&] {
      auto att = backend.attach(request("elsewhere"), handles(sbx_));
      ASSERT_TRUE(att) << att.error().message();
      auto again = backend.attach(request("elsewhere"), handles(sbx_));
      EXPECT_FALSE(again);  // refused, and the first attachment is kept
    });
    EXPECT_EQ(ip_json(net_.host(), "link show master nucleus0").size(), 1u);
  }  // destructor: detach() on this thread
  EXPECT_EQ(host_snapshot(net_), before_);
  EXPECT_TRUE(pending().empty());
  EXPECT_EQ(read_sysctl("net/ipv4/ip_forward").value_or("?"), *real_forward);
}

TEST_F(KernelBackendTest, DetachToleratesAVanishedNamespace) {
  KernelBackend backend;
  in_netns(net_.host(), [&] { ASSERT_TRUE(backend.attach(request("gone"), handles(sbx_))); });
  sbx_.remove();  // the sandbox died: its netns (and the veth peer) are gone
  in_netns(net_.host(), [&] { backend.detach(); });
  EXPECT_TRUE(pending().empty());
  EXPECT_EQ(host_snapshot(net_), before_);
}

// A supervisor that dies without detaching: gc replays its journal with undo_journal_entry.
TEST_F(KernelBackendTest, GcUndoesACrashedRun) {
  in_netns(net_.host(), [&] {
    pid_t child = fork();
    if (child == 0) {
      KernelBackend* leaked = new KernelBackend;  // never detached: the process just dies
      NetRequest req = request("crashed");
      req.ipv6 = true;
      auto att = leaked->attach(req, handles(sbx_));
      _exit(att ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  });
  ASSERT_FALSE(HasFailure());
  EXPECT_NE(host_snapshot(net_), before_);  // the crash left things behind
  auto entries = pending();
  ASSERT_FALSE(entries.empty());
  in_netns(net_.host(), [&] {
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
      ASSERT_TRUE(handles_journal_kind(it->kind)) << it->kind;
      auto r = undo_journal_entry(*it);
      EXPECT_TRUE(r) << it->kind << " " << it->key << ": " << r.error().message();
      EXPECT_TRUE(undo_journal_entry(*it)) << "undo twice: " << it->kind;
    }
  });
  EXPECT_EQ(host_snapshot(net_), before_);
  EXPECT_TRUE(ipam::leases(root_, cidr("10.0.42.0/24"))->empty());
}

}  // namespace
}  // namespace nucleus::net::kernel
