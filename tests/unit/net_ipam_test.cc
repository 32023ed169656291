#include "net/ipam.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "core/base/fs.h"
#include "tests/support/temp_dir.h"

namespace nucleus::net::ipam {
namespace {

IpAddress ip(std::string_view text) { return *IpAddress::parse(text); }
Cidr cidr(std::string_view text) { return *Cidr::parse(text); }

class IpamTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(root_.empty()); }

  Owner live(std::string id) {
    auto o = Owner::self(std::move(id));
    EXPECT_TRUE(o);
    return *o;
  }
  // A process that existed and is gone: fork a child and reap it.
  Owner dead(std::string id) {
    pid_t child = fork();
    if (child == 0) _exit(0);
    int status = 0;
    waitpid(child, &status, 0);
    return Owner{std::move(id), child, 12345};
  }
  // Our own pid, but a start time that is not ours: the pid was recycled.
  Owner recycled(std::string id) {
    Owner o = live(std::move(id));
    o.start_time += 1;
    return o;
  }

  nucleus::testing::TempDir dir_{"nucleus-ipam"};
  const std::string& root_ = dir_.path();
};

TEST_F(IpamTest, FirstAddressAfterGatewayThenNext) {
  Cidr net = cidr("10.0.42.0/24");
  auto a = reserve(root_, net, live("a"));
  auto b = reserve(root_, net, live("b"));
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(*a, ip("10.0.42.2"));
  EXPECT_EQ(*b, ip("10.0.42.3"));
  EXPECT_EQ(*gateway(net), ip("10.0.42.1"));
}

TEST_F(IpamTest, SameOwnerGetsItsAddressAgain) {
  Cidr net = cidr("10.0.42.0/24");
  auto a1 = reserve(root_, net, live("a"));
  auto a2 = reserve(root_, net, live("a"));
  ASSERT_TRUE(a1 && a2);
  EXPECT_EQ(*a1, *a2);
  EXPECT_EQ(leases(root_, net)->size(), 1u);
}

TEST_F(IpamTest, ReleaseFreesTheAddressAndIsIdempotent) {
  Cidr net = cidr("10.0.42.0/24");
  ASSERT_TRUE(reserve(root_, net, live("a")));
  ASSERT_TRUE(reserve(root_, net, live("b")));
  ASSERT_TRUE(release(root_, net, "a"));
  ASSERT_TRUE(release(root_, net, "a"));
  ASSERT_TRUE(release(root_, net, "never-existed"));
  auto c = reserve(root_, net, live("c"));
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, ip("10.0.42.2"));
  // Releasing in a state root that never held anything creates nothing.
  ASSERT_TRUE(release(root_ + "/empty", net, "x"));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/empty"));
}

TEST_F(IpamTest, DeadOrRecycledOwnersAreReclaimed) {
  Cidr net = cidr("10.0.42.0/29");
  ASSERT_EQ(*reserve(root_, net, dead("crashed")), ip("10.0.42.2"));
  // The crashed run's lease is stale: the next reservation reclaims it.
  ASSERT_EQ(*reserve(root_, net, live("a")), ip("10.0.42.2"));
  ASSERT_EQ(*reserve(root_, net, recycled("recycled")), ip("10.0.42.3"));
  ASSERT_EQ(*reserve(root_, net, live("b")), ip("10.0.42.3"));
  auto all = leases(root_, net);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].owner.id, "a");
  EXPECT_EQ((*all)[1].owner.id, "b");
}

TEST_F(IpamTest, SmallestSubnetExhaustsWithoutGatewayOrBroadcast) {
  Cidr net = cidr("10.0.42.8/29");  // .8 network, .9 gateway, .15 broadcast: .10-.14 usable
  std::set<IpAddress> got;
  for (int i = 0; i < 5; ++i) {
    auto r = reserve(root_, net, live("s" + std::to_string(i)));
    ASSERT_TRUE(r) << r.error().message();
    got.insert(*r);
  }
  EXPECT_EQ(got.size(), 5u);
  EXPECT_FALSE(got.contains(ip("10.0.42.8")));
  EXPECT_FALSE(got.contains(ip("10.0.42.9")));
  EXPECT_FALSE(got.contains(ip("10.0.42.15")));
  auto full = reserve(root_, net, live("one-too-many"));
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message().find("no free address"), std::string::npos);
}

TEST_F(IpamTest, StaticAddress) {
  Cidr net = cidr("10.0.42.0/24");
  auto s = reserve(root_, net, live("s"), ip("10.0.42.77"));
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, ip("10.0.42.77"));

  auto taken = reserve(root_, net, live("t"), ip("10.0.42.77"));
  ASSERT_FALSE(taken);
  EXPECT_NE(taken.error().message().find("already used"), std::string::npos);

  auto outside = reserve(root_, net, live("t"), ip("10.0.43.5"));
  ASSERT_FALSE(outside);
  EXPECT_NE(outside.error().message().find("outside the subnet"), std::string::npos);

  auto gw = reserve(root_, net, live("t"), ip("10.0.42.1"));
  ASSERT_FALSE(gw);
  EXPECT_NE(gw.error().message().find("gateway"), std::string::npos);

  EXPECT_FALSE(reserve(root_, net, live("t"), ip("10.0.42.255")));
  EXPECT_FALSE(reserve(root_, net, live("t"), ip("10.0.42.0")));
  EXPECT_FALSE(reserve(root_, net, live("t"), ip("fd00:42::5")));

  // A static address held by a dead owner is reclaimed.
  ASSERT_TRUE(reserve(root_, net, dead("gone"), ip("10.0.42.88")));
  EXPECT_TRUE(reserve(root_, net, live("t"), ip("10.0.42.88")));
}

TEST_F(IpamTest, DynamicSkipsStaticallyTakenAddresses) {
  Cidr net = cidr("10.0.42.0/24");
  ASSERT_TRUE(reserve(root_, net, live("s"), ip("10.0.42.2")));
  EXPECT_EQ(*reserve(root_, net, live("d")), ip("10.0.42.3"));
}

TEST_F(IpamTest, Ipv6Slash64) {
  Cidr net = cidr("fd00:42::/64");
  auto a = reserve(root_, net, live("a"));
  auto b = reserve(root_, net, live("b"));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, ip("fd00:42::2"));
  EXPECT_EQ(*b, ip("fd00:42::3"));
  EXPECT_EQ(*gateway(net), ip("fd00:42::1"));
  EXPECT_TRUE(reserve(root_, net, live("c"), ip("fd00:42::abcd")));
  // IPv4 and IPv6 leases of one sandbox live in different files.
  EXPECT_TRUE(reserve(root_, cidr("10.0.42.0/24"), live("a")));
}

TEST_F(IpamTest, SubnetLimits) {
  EXPECT_TRUE(check_subnet(cidr("10.0.0.0/16")));
  EXPECT_TRUE(check_subnet(cidr("10.0.42.8/29")));
  EXPECT_FALSE(check_subnet(cidr("10.0.0.0/15")));
  EXPECT_FALSE(check_subnet(cidr("10.0.42.0/30")));
  EXPECT_TRUE(check_subnet(cidr("fd00:42::/64")));
  EXPECT_FALSE(check_subnet(cidr("fd00::/48")));
  auto r = reserve(root_, cidr("10.0.42.0/30"), live("a"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("--subnet"), std::string::npos);
}

TEST_F(IpamTest, CorruptStateIsAnErrorNotADoubleAllocation) {
  Cidr net = cidr("10.0.42.0/24");
  ASSERT_TRUE(reserve(root_, net, live("a")));
  ASSERT_TRUE(fs::write_atomic(root_ + "/ipam/10.0.42.0_24.json", "{not json"));
  auto r = reserve(root_, net, live("b"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("corrupt"), std::string::npos);
}

// A machine crash can leave an empty file behind (the state root may be on disk and state files
// are not fsynced); nucleus never writes one, and no lease outlives the machine.
TEST_F(IpamTest, AnEmptyStateFileHoldsNoLeases) {
  Cidr net = cidr("10.0.42.0/24");
  ASSERT_TRUE(fs::make_dirs(root_ + "/ipam"));
  ASSERT_TRUE(fs::write_atomic(root_ + "/ipam/10.0.42.0_24.json", ""));
  auto r = reserve(root_, net, live("b"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->to_string(), "10.0.42.2");
}

TEST_F(IpamTest, JournalUndoReleases) {
  Cidr net = cidr("10.0.42.0/24");
  ASSERT_TRUE(reserve(root_, net, live("a")));
  JournalEntry entry{std::string(kJournalKind), journal_key(net, "a"),
                     journal_attrs(root_, net, "a")};
  ASSERT_TRUE(undo(entry));
  EXPECT_TRUE(leases(root_, net)->empty());
  ASSERT_TRUE(undo(entry));  // already gone
  EXPECT_FALSE(undo(JournalEntry{"ipam", "x", nlohmann::json::object()}));
}

// Many processes reserve at the same moment: the lock must give each a distinct address.
TEST_F(IpamTest, ConcurrentProcessesGetDistinctAddresses) {
  constexpr int kProcs = 24;
  Cidr net = cidr("10.0.42.0/24");
  int results[2], go[2], hold[2];
  ASSERT_EQ(pipe(results), 0);
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(hold), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < kProcs; ++i) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(results[0]);
      close(go[1]);
      close(hold[1]);
      char c;
      if (read(go[0], &c, 1) < 0) _exit(2);  // start together when the parent closes `go`
      auto owner = Owner::self("proc" + std::to_string(i));
      Result<IpAddress> r = std::unexpected(Error{});
      if (owner) r = reserve(root_, net, *owner);
      std::string line = (r ? r->to_string() : "ERR " + r.error().message()) + "\n";
      if (write(results[1], line.data(), line.size()) < 0) _exit(3);
      // Stay alive (owner must be live) until the parent has checked everything.
      if (read(hold[0], &c, 1) < 0) _exit(4);
      _exit(0);
    }
    children.push_back(pid);
  }
  close(results[1]);
  close(go[0]);
  close(hold[0]);
  close(go[1]);  // release every child at once

  std::string all;
  char buf[512];
  ssize_t n;
  while ((n = read(results[0], buf, sizeof buf)) > 0) {
    all.append(buf, static_cast<size_t>(n));
    if (std::count(all.begin(), all.end(), '\n') == kProcs) break;
  }
  std::set<std::string> addresses;
  size_t pos = 0;
  int lines = 0;
  while ((pos = all.find('\n')) != std::string::npos) {
    std::string line = all.substr(0, pos);
    all.erase(0, pos + 1);
    EXPECT_EQ(line.rfind("ERR", 0), std::string::npos) << line;
    addresses.insert(line);
    ++lines;
  }
  EXPECT_EQ(lines, kProcs);
  EXPECT_EQ(addresses.size(), static_cast<size_t>(kProcs));
  auto held = leases(root_, net);
  ASSERT_TRUE(held);
  EXPECT_EQ(held->size(), static_cast<size_t>(kProcs));

  close(hold[1]);
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  close(results[0]);
  // All owners are gone now: the next reservation reclaims every lease.
  ASSERT_EQ(*reserve(root_, net, live("after")), ip("10.0.42.2"));
  EXPECT_EQ(leases(root_, net)->size(), 1u);
}

}  // namespace
}  // namespace nucleus::net::ipam
