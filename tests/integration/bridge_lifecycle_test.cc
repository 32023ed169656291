// Root tests: the host is exactly as before after a bridge sandbox is gone -- normal exit, SIGKILL
// of the workload, SIGKILL of nucleus followed by `nucleus gc` -- and a setup failure at any step
// rolls back and exits 125 naming the step. Every sandbox here uses IPv6, published ports and a
// host whose forward policy is drop, so every kind of host object nucleus makes is exercised.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "tests/integration/bridge_support.h"

namespace nucleus::testing {
namespace {

class BridgeLifecycleTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    if (HasFatalFailure()) return;
    add_forward_drop_policy();
    before_ = snapshot();
  }
  // A sandbox with every kind of host object, plus 127.0.0.1 publishing (route_localnet).
  bool start_full(const std::string& name) {
    return start_agent(name, "10.0.42.9",
                       {"--ipv6", "-p", "8080:8080", "-p", "8081:8081/udp", "-p",
                        "127.0.0.1:8082:8080"});
  }
  pid_t workload_pid(const std::string& name) {
    auto r = nucleus({"state", name, "--format", "json"});
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.contains("workload")) return -1;
    return j["workload"]["pid"].get<pid_t>();
  }
  std::string before_;
};

TEST_F(BridgeLifecycleTest, HostRestoredAfterNormalExit) {
  auto r = nucleus(bridge_args({"--ipv6", "-p", "8080:8080", "-p", "127.0.0.1:8082:8080"},
                               {"/bin/true"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(snapshot_after_exit(before_), before_);
  ASSERT_TRUE(start_full("normal"));
  EXPECT_NE(snapshot(), before_);  // the snapshot does see a running sandbox
  EXPECT_EQ(stop_all(), std::vector<int>{0});
  EXPECT_EQ(snapshot_after_exit(before_), before_);
}

TEST_F(BridgeLifecycleTest, HostRestoredAfterTheWorkloadIsKilled) {
  ASSERT_TRUE(start_full("victim"));
  pid_t pid = workload_pid("victim");
  ASSERT_GT(pid, 1);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  auto r = sandboxes_.front()->wait(std::chrono::seconds(30));
  sandboxes_.clear();
  EXPECT_EQ(r.status, 128 + SIGKILL) << r.err;
  EXPECT_EQ(snapshot_after_exit(before_), before_);
}

TEST_F(BridgeLifecycleTest, HostRestoredAfterNucleusIsKilledAndGcRuns) {
  ASSERT_TRUE(start_full("orphan"));
  pid_t pid = workload_pid("orphan");
  ASSERT_GT(pid, 1);
  sandboxes_.front()->signal(SIGKILL);  // `ip netns exec` exec'd nucleus: this is nucleus
  sandboxes_.front()->wait(std::chrono::seconds(30));
  sandboxes_.clear();
  // The workload dies with its supervisor (PR_SET_PDEATHSIG)...
  ASSERT_TRUE(eventually([&] { return kill(pid, 0) != 0; }));
  // ...but bridge, veth, IPAM, ip_forward and the rules in the host's drop chains stay until gc.
  EXPECT_NE(snapshot(), before_);
  auto gc = nucleus({"gc"});
  EXPECT_EQ(gc.status, 0) << gc.err;
  EXPECT_EQ(snapshot_after_exit(before_), before_);
}

// gc of a dead run on a bridge another sandbox still uses: the bridge stays, everything the dead
// run brought (its veth, rules, IPv6 gateway address, leases) goes.
TEST_F(BridgeLifecycleTest, GcLeavesASharedBridgeAsTheOtherSandboxHadIt) {
  ASSERT_TRUE(start_agent("stays", "10.0.42.8", {}));
  ASSERT_TRUE(settle_host_addresses(*net_));
  std::string with_other = snapshot();
  ASSERT_TRUE(start_full("dies"));
  pid_t pid = workload_pid("dies");
  ASSERT_GT(pid, 1);
  sandboxes_.back()->signal(SIGKILL);
  sandboxes_.back()->wait(std::chrono::seconds(30));
  sandboxes_.pop_back();
  ASSERT_TRUE(eventually([&] { return kill(pid, 0) != 0; }));
  auto gc = nucleus({"gc"});
  EXPECT_EQ(gc.status, 0) << gc.err;
  EXPECT_EQ(snapshot_after_exit(with_other), with_other);
  EXPECT_EQ(probe_from_sandbox("10.0.42.8", "tcp", "203.0.113.10", 8080), "ok tcp-up");
  EXPECT_EQ(stop_all(), std::vector<int>{0});
  EXPECT_EQ(snapshot_after_exit(before_), before_);
}

TEST_F(BridgeLifecycleTest, SetupFailureRollsBackAndExits125NamingTheStep) {
  struct Case {
    std::vector<std::string> flags;
    std::string step;
  };
  net_->spawn_host(std::string("exec ") + kPython + " " + agent_ + " host");  // holds tcp 8080
  ASSERT_TRUE(eventually([&] { return probe_from_host("tcp", "127.0.0.1", 8080) == "ok tcp-host"; }));
  ASSERT_TRUE(start_agent("holder", "10.0.42.7", {}));
  ASSERT_TRUE(settle_host_addresses(*net_));  // the new bridge's link-local address
  std::string with_agent = snapshot();
  // In attach order: the first fails before anything exists, the others after the IPAM lease,
  // bridge, veth, NAT/isolation tables, forward rules and ip_forward were made.
  const Case cases[] = {
      {{"--ip", "10.0.42.7"}, "reserve IP"},                            // address taken
      {{"--bridge", "uplink"}, "bridge uplink"},                        // not a bridge
      {{"--ipv6", "-p", "9090:90", "-p", "8080:80"}, "publish"},        // published port taken
      // The child fails building its root while the parent sets up the whole network.
      {{"--ipv6", "-v", "/etc/hostname:/data", "-v", "/etc/hosts:/data/x"}, "create mount point"},
  };
  for (const Case& c : cases) {
    auto r = nucleus(bridge_args(c.flags, {"/bin/true"}));
    EXPECT_EQ(r.status, 125) << c.step;
    EXPECT_NE(r.err.find(c.step), std::string::npos) << r.err;
    EXPECT_EQ(snapshot_after_exit(with_agent), with_agent) << c.step;
  }
  EXPECT_EQ(probe_from_sandbox("10.0.42.7", "tcp", "203.0.113.10", 8080), "ok tcp-up");  // intact
  EXPECT_EQ(stop_all(), std::vector<int>{0});
}

// A sandbox that leaves while another keeps the bridge up leaves its veth to the kernel, and that
// veth's name comes from the sandbox name: the same --name run again at once must still start,
// and neither run may leave anything behind.
TEST_F(BridgeLifecycleTest, SameNameRunsBackToBackWhileAnotherSandboxKeepsTheBridge) {
  ASSERT_TRUE(start_agent("keeper", "10.0.42.6", {}));
  ASSERT_TRUE(settle_host_addresses(*net_));
  std::string with_keeper = snapshot();
  for (int run = 1; run <= 2; ++run) {
    auto r = nucleus(bridge_args({"--name", "twice"}, {"/bin/true"}));
    EXPECT_EQ(r.status, 0) << "run " << run << ": " << r.err;
  }
  EXPECT_EQ(snapshot_after_exit(with_keeper), with_keeper);
  EXPECT_EQ(probe_from_sandbox("10.0.42.6", "tcp", "203.0.113.10", 8080), "ok tcp-up");
  EXPECT_EQ(stop_all(), std::vector<int>{0});
  EXPECT_EQ(snapshot_after_exit(before_), before_);
}

// The same, with the kernel slow to destroy the old sandbox's netns (here: we hold it open for a
// moment), so the re-run does meet the old veth of the same name and must wait for it.
TEST_F(BridgeLifecycleTest, SameNameRerunWaitsForTheVethTheKernelIsStillRemoving) {
  ASSERT_TRUE(start_agent("keeper", "10.0.42.6", {}));
  ASSERT_TRUE(start_agent("again", "10.0.42.5", {}));
  pid_t pid = workload_pid("again");
  ASSERT_GT(pid, 1);
  int ns = ::open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(ns, 0);
  sandboxes_.back()->signal(SIGTERM);
  EXPECT_EQ(sandboxes_.back()->wait(std::chrono::seconds(30)).status, 0);
  sandboxes_.pop_back();
  // Our fd keeps the old netns alive, so its veth is still there, but out of the bridge.
  auto count = [](const std::string& text) {
    size_t n = 0;
    for (size_t at = text.find(": nv"); at != std::string::npos; at = text.find(": nv", at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(net_->sh_host("ip -o link show type veth").out), 2u);
  EXPECT_EQ(count(net_->sh_host("ip -o link show master nucleus0").out), 1u);
  // Let the netns go while the re-run is starting (well within its bounded wait).
  std::thread release([ns] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::close(ns);
  });
  auto r = nucleus(bridge_args({"--name", "again"}, {"/bin/true"}));
  release.join();
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(stop_all(), std::vector<int>{0});
  EXPECT_EQ(snapshot_after_exit(before_), before_);
}

}  // namespace
}  // namespace nucleus::testing
