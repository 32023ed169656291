// Root test: the libnl wrappers (links, addresses, routes, sysctls) and ip_forward refcounting,
// run on a thread that joined a TestNetwork "host" namespace; the "sandbox" is another throwaway
// namespace. Results are checked with `ip -j`, independently of the code under test.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstring>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/base/fs.h"
#include "net/kernel/addr.h"
#include "net/kernel/ip_forward.h"
#include "net/kernel/link.h"
#include "net/kernel/netlink.h"
#include "net/kernel/sysctl.h"
#include "tests/support/netns.h"
#include "tests/support/netns_helpers.h"

namespace nucleus::net::kernel {
namespace {

using nucleus::testing::TestNetwork;
using nucleus::testing::in_netns;
using nucleus::testing::ip_json;

IpAddress ip(std::string_view text) { return *IpAddress::parse(text); }

bool has_flag(const nlohmann::json& link, const std::string& flag) {
  for (const auto& f : link["flags"])
    if (f == flag) return true;
  return false;
}

std::string cat(const std::string& ns, const std::string& path) {
  auto r = nucleus::testing::sh("ip netns exec " + ns + " cat " + path);
  EXPECT_EQ(r.status, 0) << r.err;
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

// Listens on address:port in the calling thread's namespace and has bash in namespace `ns`
// connect to it.
bool can_connect(const std::string& ns, const std::string& address, int family) {
  int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto parsed = IpAddress::parse(address);
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_addr, parsed->bytes.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    std::memcpy(&sin6->sin6_addr, parsed->bytes.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  bool ok = bind(s, reinterpret_cast<sockaddr*>(&ss), len) == 0 && listen(s, 4) == 0 &&
            getsockname(s, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
  int port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                     : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  if (ok) {
    auto r = nucleus::testing::run({"ip", "netns", "exec", ns, "bash", "-c",
                                    "exec 3<>/dev/tcp/" + address + "/" + std::to_string(port)},
                                   std::chrono::seconds(20));
    ok = r.status == 0;
    if (!ok) ADD_FAILURE() << "connect to " << address << ": " << r.err;
  }
  close(s);
  return ok;
}

class NetlinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(net_.ok());
    ASSERT_TRUE(sbx_.ok());
  }
  TestNetwork net_;
  nucleus::testing::NamedNetns sbx_{net_.host() + "s"};
};

TEST_F(NetlinkTest, BridgeVethAddressesRoutesInTwoNamespaces) {
  in_netns(net_.host(), [&] {
    auto host = NetlinkSocket::open();
    ASSERT_TRUE(host) << host.error().message();
    auto br = create_bridge(*host, "nbtest0");
    ASSERT_TRUE(br) << br.error().message();
    auto again = create_bridge(*host, "nbtest0");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, EEXIST);
    ASSERT_TRUE(add_address(*host, *br, ip("10.0.42.1"), 24));
    ASSERT_TRUE(add_address(*host, *br, ip("10.0.42.1"), 24));  // idempotent
    ASSERT_TRUE(add_address(*host, *br, ip("fd00:42::1"), 64));
    ASSERT_TRUE(disable_accept_ra("nbtest0"));
    ASSERT_TRUE(set_link_up(*host, *br));
    auto info = find_link(*host, "nbtest0");
    ASSERT_TRUE(info && *info);
    EXPECT_EQ((*info)->kind, "bridge");
    EXPECT_EQ((*info)->alias, kManagedAlias);
    EXPECT_TRUE((*info)->flags & IFF_UP);

    auto veth = create_veth(*host, {"nvtest", "eth0", *br, (*info)->mtu, sbx_.fd()});
    ASSERT_TRUE(veth) << veth.error().message();
    ASSERT_TRUE(disable_accept_ra("nvtest"));
    ASSERT_TRUE(set_link_up(*host, *veth));
    EXPECT_EQ(*bridge_port_count(*host, *br), 1);

    auto sbx = NetlinkSocket::open_in(sbx_.fd());
    ASSERT_TRUE(sbx) << sbx.error().message();
    auto eth0 = find_link(*sbx, "eth0");
    ASSERT_TRUE(eth0 && *eth0);
    ASSERT_TRUE(add_address(*sbx, (*eth0)->index, ip("10.0.42.2"), 24));
    ASSERT_TRUE(add_address(*sbx, (*eth0)->index, ip("fd00:42::2"), 64));
    ASSERT_TRUE(set_link_up(*sbx, (*eth0)->index));
    auto r4 = add_default_route(*sbx, (*eth0)->index, ip("10.0.42.1"));
    ASSERT_TRUE(r4) << r4.error().message();
    auto r6 = add_default_route(*sbx, (*eth0)->index, ip("fd00:42::1"));
    ASSERT_TRUE(r6) << r6.error().message();
    // The peer never existed in the host namespace.
    EXPECT_FALSE(*find_link(*host, "eth0"));
  });

  auto br = ip_json(net_.host(), "link show nbtest0")[0];
  EXPECT_TRUE(has_flag(br, "UP"));
  EXPECT_EQ(cat(net_.host(), "/proc/sys/net/ipv6/conf/nbtest0/accept_ra"), "0");
  auto port = ip_json(net_.host(), "link show nvtest")[0];
  EXPECT_EQ(port["master"], "nbtest0");
  EXPECT_TRUE(has_flag(port, "UP"));
  EXPECT_TRUE(has_flag(port, "MULTICAST"));  // setting UP kept the other flags
  EXPECT_EQ(port["mtu"], br["mtu"]);
  EXPECT_EQ(cat(net_.host(), "/proc/sys/net/ipv6/conf/nvtest/accept_ra"), "0");

  auto eth0 = ip_json(sbx_.name(), "addr show eth0")[0];
  EXPECT_TRUE(has_flag(eth0, "UP"));
  EXPECT_EQ(eth0["mtu"], br["mtu"]);
  std::set<std::string> addrs;
  for (const auto& a : eth0["addr_info"]) {
    addrs.insert(a["local"].get<std::string>() + "/" + std::to_string(a["prefixlen"].get<int>()));
    if (a["local"] == "fd00:42::2") {
      EXPECT_FALSE(a.contains("tentative"));  // NODAD: usable now
    }
  }
  EXPECT_TRUE(addrs.contains("10.0.42.2/24"));
  EXPECT_TRUE(addrs.contains("fd00:42::2/64"));
  auto routes = ip_json(sbx_.name(), "route show default");
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0]["gateway"], "10.0.42.1");
  EXPECT_EQ(routes[0]["dev"], "eth0");
  auto routes6 = ip_json(sbx_.name(), "-6 route show default");
  ASSERT_EQ(routes6.size(), 1u);
  EXPECT_EQ(routes6[0]["gateway"], "fd00:42::1");

  // Traffic flows over the bridge, both families: connect from the sandbox to listeners on the
  // bridge addresses (sockets made in the host namespace keep it).
  in_netns(net_.host(), [&] {
    EXPECT_TRUE(can_connect(sbx_.name(), "10.0.42.1", AF_INET));
    EXPECT_TRUE(can_connect(sbx_.name(), "fd00:42::1", AF_INET6));
  });

  in_netns(net_.host(), [&] {
    auto host = NetlinkSocket::open();
    ASSERT_TRUE(host);
    ASSERT_TRUE(delete_link(*host, "nvtest"));
    ASSERT_TRUE(delete_link(*host, "nvtest"));  // already gone: fine
    auto br = find_link(*host, "nbtest0");
    ASSERT_TRUE(br && *br);
    EXPECT_EQ(*bridge_port_count(*host, (*br)->index), 0);
    ASSERT_TRUE(delete_link(*host, "nbtest0"));
    EXPECT_FALSE(*find_link(*host, "nbtest0"));
  });
  // Deleting the host end took the peer with it.
  EXPECT_TRUE(ip_json(sbx_.name(), "link show type veth").empty());
}

TEST_F(NetlinkTest, MoveRenameMtuMasterAndPortCount) {
  in_netns(net_.host(), [&] {
    auto host = NetlinkSocket::open();
    ASSERT_TRUE(host);
    auto br = create_bridge(*host, "nbtest1");
    ASSERT_TRUE(br) << br.error().message();
    auto a = create_veth(*host, {"nva", "nvap", 0, 0, -1});
    auto b = create_veth(*host, {"nvb", "nvbp", *br, 0, -1});
    ASSERT_TRUE(a && b);
    EXPECT_EQ(*bridge_port_count(*host, *br), 1);  // nva is not enslaved, peers are not ports
    ASSERT_TRUE(set_link_master(*host, *a, *br));
    ASSERT_TRUE(set_link_mtu(*host, *a, 1400));
    EXPECT_EQ(*bridge_port_count(*host, *br), 2);

    auto peer = find_link(*host, "nvap");
    ASSERT_TRUE(peer && *peer);
    ASSERT_TRUE(move_link_to_netns(*host, (*peer)->index, sbx_.fd()));
    EXPECT_FALSE(*find_link(*host, "nvap"));
    auto sbx = NetlinkSocket::open_in(sbx_.fd());
    ASSERT_TRUE(sbx);
    auto moved = find_link(*sbx, "nvap");
    ASSERT_TRUE(moved && *moved);
    ASSERT_TRUE(rename_link(*sbx, (*moved)->index, "eth0"));
    auto lo = find_link(*sbx, "lo");
    ASSERT_TRUE(lo && *lo);
    ASSERT_TRUE(set_link_up(*sbx, (*lo)->index));
    // Errors carry errno: a missing link is ENODEV.
    auto missing = set_link_up(*sbx, 9999);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ENODEV);
  });
  auto eth0 = ip_json(sbx_.name(), "link show eth0")[0];
  EXPECT_EQ(eth0["link_type"], "ether");
  auto nva = ip_json(net_.host(), "link show nva")[0];
  EXPECT_EQ(nva["mtu"], 1400);
  EXPECT_EQ(nva["master"], "nbtest1");
  EXPECT_EQ(ip_json(net_.host(), "link show master nbtest1").size(), 2u);
}

// The last sandbox's veth and its bridge are deleted together by device group: exactly the
// group's links go, and a group some other link already uses is never picked.
TEST_F(NetlinkTest, DeleteByGroupTakesExactlyTheGroupsLinks) {
  in_netns(net_.host(), [&] {
    auto host = NetlinkSocket::open();
    ASSERT_TRUE(host);
    auto br = create_bridge(*host, "nbgrp0");
    ASSERT_TRUE(br) << br.error().message();
    auto port = create_veth(*host, {"nvgrp", "eth0", *br, 0, sbx_.fd()});
    auto other = create_veth(*host, {"nvother", "nvotherp", 0, 0, -1});
    ASSERT_TRUE(port && other);
    // Someone else's link sits in the group we would try first.
    ASSERT_TRUE(set_link_group(*host, *other, 0x4e550007U));
    auto group = unused_link_group(*host, 0x4e550007U);
    ASSERT_TRUE(group) << group.error().message();
    EXPECT_NE(*group, 0x4e550007U);
    ASSERT_TRUE(set_link_group(*host, *port, *group));
    ASSERT_TRUE(set_link_group(*host, *br, *group));
    auto deleted = delete_link_group(*host, *group);
    ASSERT_TRUE(deleted) << deleted.error().message();
    EXPECT_FALSE(*find_link(*host, "nbgrp0"));
    EXPECT_FALSE(*find_link(*host, "nvgrp"));
    EXPECT_TRUE(*find_link(*host, "nvother"));
    EXPECT_FALSE(delete_link_group(*host, 0));  // never the default group
    EXPECT_TRUE(*find_link(*host, "lo"));
  });
  EXPECT_EQ(ip_json(sbx_.name(), "link show").size(), 1u);  // the peer went with its veth
}

// The detached deletion returns once the kernel has taken the links off the host (the kernel's
// remaining clean-up runs in a helper process): by then the links, the bridge's addresses and its
// routes must be gone, checked at once with `ip`, nothing waited for.
TEST_F(NetlinkTest, DetachedGroupDeleteReturnsWithTheLinksGone) {
  in_netns(net_.host(), [&] {
    auto host = NetlinkSocket::open();
    ASSERT_TRUE(host);
    auto br = create_bridge(*host, "nbdet0");
    ASSERT_TRUE(br) << br.error().message();
    ASSERT_TRUE(add_address(*host, *br, ip("10.77.0.1"), 24));
    ASSERT_TRUE(add_address(*host, *br, ip("fd00:77::1"), 64));
    ASSERT_TRUE(set_link_up(*host, *br));
    auto port = create_veth(*host, {"nvdet", "eth0", *br, 0, sbx_.fd()});
    ASSERT_TRUE(port) << port.error().message();
    auto group = unused_link_group(*host, 0x4e550100U);
    ASSERT_TRUE(group);
    ASSERT_TRUE(set_link_group(*host, *port, *group));
    ASSERT_TRUE(set_link_group(*host, *br, *group));
    const int members[] = {*port, *br};
    auto deleted = delete_link_group_detached(*host, *group, members);
    ASSERT_TRUE(deleted) << deleted.error().message();
  });
  for (const auto& link : ip_json(net_.host(), "link show"))
    EXPECT_TRUE(link["ifname"] != "nbdet0" && link["ifname"] != "nvdet") << link.dump();
  EXPECT_EQ(ip_json(net_.host(), "-4 route show").dump().find("10.77.0."), std::string::npos);
  EXPECT_EQ(ip_json(net_.host(), "-6 route show table all").dump().find("fd00:77:"),
            std::string::npos);
  EXPECT_EQ(ip_json(net_.host(), "addr show").dump().find("10.77.0.1"), std::string::npos);
  EXPECT_EQ(ip_json(sbx_.name(), "link show").size(), 1u);  // the peer went with its veth
}

// A link whose removal is never announced to us (here: an index that does not exist; in real life
// one the sandbox's namespace clean-up deleted first) does not hang the call: the helper's report
// that the kernel is done ends the wait.
TEST_F(NetlinkTest, DetachedGroupDeleteEndsOnTheHelpersReport) {
  in_netns(net_.host(), [&] {
    auto host = NetlinkSocket::open();
    ASSERT_TRUE(host);
    auto br = create_bridge(*host, "nbdet1");
    ASSERT_TRUE(br) << br.error().message();
    auto group = unused_link_group(*host, 0x4e550300U);
    ASSERT_TRUE(group);
    ASSERT_TRUE(set_link_group(*host, *br, *group));
    const int members[] = {*br, 99999};
    auto deleted = delete_link_group_detached(*host, *group, members);
    ASSERT_TRUE(deleted) << deleted.error().message();
    EXPECT_FALSE(*find_link(*host, "nbdet1"));
    EXPECT_FALSE(delete_link_group_detached(*host, *group, {}));  // nothing to wait for: refused
  });
}

// A request the kernel refuses comes back as that error from the helper, not as a timeout.
TEST_F(NetlinkTest, DetachedGroupDeleteReportsTheKernelsRefusal) {
  in_netns(net_.host(), [&] {
    auto host = NetlinkSocket::open();
    ASSERT_TRUE(host);
    auto group = unused_link_group(*host, 0x4e550200U);
    ASSERT_TRUE(group);
    const int members[] = {12345};
    auto deleted = delete_link_group_detached(*host, *group, members);  // an empty group
    ASSERT_FALSE(deleted);
    EXPECT_EQ(deleted.error().code, ENODEV) << deleted.error().message();
    EXPECT_FALSE(delete_link_group_detached(*host, 0, members));  // never the default group
  });
}

TEST_F(NetlinkTest, BridgeMacStaysFixedWhenPortsJoin) {
  std::string before;
  in_netns(net_.host(), [&] {
    auto host = NetlinkSocket::open();
    ASSERT_TRUE(host);
    auto br = create_bridge(*host, "nbtest2");
    ASSERT_TRUE(br);
    before = ip_json(net_.host(), "link show nbtest2")[0]["address"];
    for (int i = 0; i < 4; ++i)
      ASSERT_TRUE(create_veth(*host, {"nvm" + std::to_string(i), "nvmp" + std::to_string(i), *br, 0, -1}));
  });
  EXPECT_EQ(ip_json(net_.host(), "link show nbtest2")[0]["address"], before);
}

// --- ip_forward -------------------------------------------------------------------------------

class IpForwardTest : public NetlinkTest {
 protected:
  void SetUp() override {
    NetlinkTest::SetUp();
    char tmpl[] = "/tmp/nucleus-fwd-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::filesystem::remove_all(root_);
    for (pid_t pid : helpers_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  // A live owner that is not this process: a child that sleeps until killed.
  Owner other_live(std::string id) {
    pid_t pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
    helpers_.push_back(pid);
    auto start = process_start_time(pid);
    EXPECT_TRUE(start);
    return Owner{std::move(id), pid, start.value_or(0)};
  }
  std::string root_;
  std::vector<pid_t> helpers_;
};

TEST_F(IpForwardTest, RefcountedAndPriorRestored) {
  Owner other = other_live("b");
  in_netns(net_.host(), [&] {
    ASSERT_TRUE(write_sysctl("net/ipv4/ip_forward", "0"));
    ASSERT_TRUE(write_sysctl("net/ipv6/conf/all/forwarding", "0"));
    auto me = Owner::self("a");
    ASSERT_TRUE(me);
    ASSERT_TRUE(ip_forward::acquire(root_, *me, /*ipv6=*/true));
    EXPECT_EQ(*read_sysctl("net/ipv4/ip_forward"), "1");
    EXPECT_EQ(*read_sysctl("net/ipv6/conf/all/forwarding"), "1");
    ASSERT_TRUE(ip_forward::acquire(root_, other, /*ipv6=*/false));
    ASSERT_TRUE(ip_forward::acquire(root_, *me, /*ipv6=*/true));  // same owner again: no-op
    ASSERT_TRUE(ip_forward::release(root_, "a"));
    // b still needs IPv4 forwarding; nobody needs IPv6 any more.
    EXPECT_EQ(*read_sysctl("net/ipv4/ip_forward"), "1");
    EXPECT_EQ(*read_sysctl("net/ipv6/conf/all/forwarding"), "0");
    ASSERT_TRUE(ip_forward::release(root_, "b"));
    EXPECT_EQ(*read_sysctl("net/ipv4/ip_forward"), "0");
    ASSERT_TRUE(ip_forward::release(root_, "b"));  // idempotent
    EXPECT_FALSE(std::filesystem::exists(root_ + "/net/ip_forward.json"));
  });
  // The real host namespace was never touched: the test thread was in the throwaway one.
}

TEST_F(IpForwardTest, PriorValueOneStaysOne) {
  in_netns(net_.host(), [&] {
    ASSERT_TRUE(write_sysctl("net/ipv4/ip_forward", "1"));
    auto me = Owner::self("a");
    ASSERT_TRUE(ip_forward::acquire(root_, *me, false));
    ASSERT_TRUE(ip_forward::release(root_, "a"));
    EXPECT_EQ(*read_sysctl("net/ipv4/ip_forward"), "1");
  });
}

TEST_F(IpForwardTest, DeadOwnersAreDroppedAndUndoReleases) {
  in_netns(net_.host(), [&] {
    ASSERT_TRUE(write_sysctl("net/ipv4/ip_forward", "0"));
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, nullptr, 0);
    Owner dead{"crashed", child, 1};
    ASSERT_TRUE(ip_forward::acquire(root_, dead, false));
    EXPECT_EQ(*read_sysctl("net/ipv4/ip_forward"), "1");
    auto me = Owner::self("a");
    ASSERT_TRUE(ip_forward::acquire(root_, *me, false));
    // gc of the live run's journal entry (as after its crash) releases it; the dead one is
    // dropped on the way, so the prior value comes back.
    JournalEntry entry{std::string(ip_forward::kJournalKind), "a", ip_forward::journal_attrs(root_)};
    ASSERT_TRUE(ip_forward::undo(entry));
    EXPECT_EQ(*read_sysctl("net/ipv4/ip_forward"), "0");
    ASSERT_TRUE(ip_forward::undo(entry));
  });
}

}  // namespace
}  // namespace nucleus::net::kernel
