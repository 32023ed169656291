// Root tests of the service modes (issue 5): one test per cell of the mode table in
// ../shared/design/UPSTREAM.md ("Mode table"), agent vs strict-agent vs production.
//
// Each test checks that the flags it needs appear in `nucleus run --help` and skips with a clear
// message otherwise. nucleus is entered into the throwaway host namespace with nsenter (network
// namespace only): `ip netns exec` remounts /sys and hides /sys/fs/cgroup, and strict modes make a
// missing cgroup fatal.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/security/sha256.h"
#include "tests/support/sandbox_fixture.h"

namespace nucleus::testing {
namespace {

using namespace std::chrono_literals;
namespace stdfs = std::filesystem;
using nlohmann::json;

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

bool has_flag(const std::string& flag) {
  static const std::string help = [] {
    auto r = run({nucleus_binary(), "run", "--help"});
    return r.status == 0 ? r.out + r.err : std::string();
  }();
  return std::regex_search(help, std::regex("(^|[\\s,])" + flag + "([\\s=,]|$)"));
}

#define REQUIRE_FLAGS(...)                                                             \
  for (const char* flag_ : {__VA_ARGS__})                                              \
    if (!has_flag(flag_)) GTEST_SKIP() << "nucleus run has no " << flag_ << " yet"

class ModesTest : public SandboxTest {
 protected:
  void SetUp() override {
    SandboxTest::SetUp();
    if (HasFatalFailure()) return;
    if (!has_flag("--service-mode")) GTEST_SKIP() << "nucleus run has no --service-mode yet";
  }
  void TearDown() override {
    for (auto it = mounted_.rbegin(); it != mounted_.rend(); ++it) umount2(it->c_str(), MNT_DETACH);
    SandboxTest::TearDown();
  }

  std::vector<std::string> argv_for(const std::vector<std::string>& args) const {
    return nucleus_argv(args);
  }
  CommandResult nuc(const std::vector<std::string>& args, std::chrono::milliseconds t = 90s) {
    return nucleus(args, t);
  }
  // `nucleus run --service-mode MODE FLAGS -- CMD...`
  CommandResult in_mode(const std::string& mode, std::vector<std::string> flags,
                        const std::vector<std::string>& cmd) {
    std::vector<std::string> args = {"run", "--service-mode", mode};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("--");
    args.insert(args.end(), cmd.begin(), cmd.end());
    return nuc(args);
  }

  // A pre-built rootfs made of a bind of the host's /usr (merged-/usr layout), with mount points
  // for /probe, /run (secrets) and the usual dirs.
  const std::string& rootfs() {
    if (!rootfs_.empty()) return rootfs_;
    std::string dir = scratch_ + "/rootfs";
    for (const char* d : {"usr", "proc", "dev", "tmp", "etc", "run", "home", "workspace", "sys"})
      stdfs::create_directories(dir + "/" + d);
    for (const char* l : {"bin", "lib", "lib64", "sbin"})
      stdfs::create_symlink(std::string("usr/") + l, dir + "/" + l);
    write(dir + "/etc/hostname", "");
    write(dir + "/etc/marker", "from the rootfs\n");
    write(dir + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    write(dir + "/etc/group", "root:x:0:\n");
    write(dir + "/probe", "");
    EXPECT_EQ(sh("mount --bind /usr " + dir + "/usr").status, 0);
    mounted_.push_back(dir + "/usr");
    rootfs_ = dir;
    return rootfs_;
  }
  // The flags production cannot run without.
  std::vector<std::string> production_base() {
    return {"--rootfs", rootfs(), "--memory", "256m", "--cpus", "1"};
  }
  CommandResult production(std::vector<std::string> flags, const std::vector<std::string>& cmd) {
    auto base = production_base();
    base.insert(base.end(), flags.begin(), flags.end());
    return in_mode("production", base, cmd);
  }
  std::vector<std::string> probe_volume() const {
    return {"-v", probe_binary() + ":/probe:ro"};
  }

  std::string rootfs_;
  std::vector<std::string> mounted_;
};

// A refused run: exit 125, the error names the rule's flag (and the mode when given).
void expect_rule(const CommandResult& r, const std::string& flag, const std::string& mode = {}) {
  EXPECT_EQ(r.status, 125) << r.out << r.err;
  EXPECT_NE(r.err.find(flag), std::string::npos) << "error does not name " << flag << ": " << r.err;
  if (!mode.empty()) {
    EXPECT_NE(r.err.find(mode), std::string::npos) << "error does not name " << mode << ": " << r.err;
  }
}

// ---- degraded security, chroot fallback: allowed with flag | forbidden | forbidden

TEST_F(ModesTest, AgentAcceptsDegradedSecurityFlags) {
  REQUIRE_FLAGS("--allow-degraded-security", "--allow-chroot-fallback");
  auto r = in_mode("agent", {"--allow-degraded-security", "--allow-chroot-fallback"}, {"true"});
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(ModesTest, StrictModesForbidDegradedSecurityAndChrootFallback) {
  REQUIRE_FLAGS("--allow-degraded-security", "--allow-chroot-fallback");
  expect_rule(in_mode("strict-agent", {"--allow-degraded-security"}, {"true"}),
              "--allow-degraded-security", "strict-agent");
  expect_rule(in_mode("strict-agent", {"--allow-chroot-fallback"}, {"true"}),
              "--allow-chroot-fallback", "strict-agent");
  expect_rule(production({"--allow-degraded-security"}, {"true"}), "--allow-degraded-security",
              "production");
  expect_rule(production({"--allow-chroot-fallback"}, {"true"}), "--allow-chroot-fallback",
              "production");
  EXPECT_TRUE(leftover_sandboxes().empty());
}

TEST_F(ModesTest, MitosAgentAliasAndStrictAgentShorthandAreStrict) {
  REQUIRE_FLAGS("--allow-degraded-security", "--strict-agent");
  expect_rule(in_mode("mitos-agent", {"--allow-degraded-security"}, {"true"}),
              "--allow-degraded-security");
  expect_rule(nuc({"run", "--strict-agent", "--allow-degraded-security", "--", "true"}),
              "--allow-degraded-security");
  expect_rule(in_mode("no-such-mode", {}, {"true"}), "--service-mode");
}

// ---- native host network: allowed with flag | forbidden | forbidden

TEST_F(ModesTest, HostNetworkOnlyInAgentMode) {
  auto agent = in_mode("agent", {"--network", "host", "--allow-host-network"}, {"true"});
  EXPECT_EQ(agent.status, 0) << agent.err;
  expect_rule(in_mode("strict-agent", {"--network", "host", "--allow-host-network"}, {"true"}),
              "--network", "strict-agent");
  expect_rule(production({"--network", "host", "--allow-host-network"}, {"true"}), "--network",
              "production");
}

// ---- bridge DNS: defaults | must be explicit | must be explicit
// (the agent default 8.8.8.8 is not exercised: tests never point a sandbox at a public resolver)

TEST_F(ModesTest, StrictModesNeedExplicitBridgeDns) {
  expect_rule(in_mode("strict-agent", {"--network", "bridge"}, {"true"}), "--dns",
              "strict-agent");
  expect_rule(production({"--network", "bridge"}, {"true"}), "--dns", "production");
  auto ok = in_mode("strict-agent", {"--network", "bridge", "--dns", "198.51.100.2"},
                    {"cat", "/etc/resolv.conf"});
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_NE(ok.out.find("198.51.100.2"), std::string::npos) << ok.out;
  EXPECT_EQ(ok.out.find("8.8.8.8"), std::string::npos) << ok.out;
}

// ---- cgroup limits: best effort | fatal | fatal

TEST_F(ModesTest, CgroupFailureIsFatalOnlyInStrictModes) {
  // An empty tmpfs over /sys/fs/cgroup (in a private mount namespace) leaves nucleus without any
  // cgroup hierarchy: agent mode warns and runs, strict modes refuse.
  auto without_cgroups = [&](const std::string& mode, std::vector<std::string> extra) {
    std::string cmd = "mount -t tmpfs none /sys/fs/cgroup && exec";
    for (const auto& a : argv_for({"run", "--service-mode", mode})) cmd += " '" + a + "'";
    for (const auto& a : extra) cmd += " '" + a + "'";
    cmd += " -- true";
    return run({"unshare", "--mount", "--propagation", "private", "sh", "-c", cmd});
  };
  auto agent = without_cgroups("agent", {});
  EXPECT_EQ(agent.status, 0) << agent.err;
  EXPECT_NE(agent.err.find("cgroup"), std::string::npos) << "agent should warn: " << agent.err;
  auto strict = without_cgroups("strict-agent", {});
  EXPECT_EQ(strict.status, 125) << strict.err;
  EXPECT_NE(strict.err.find("cgroup"), std::string::npos) << strict.err;
  auto prod = without_cgroups("production", production_base());
  EXPECT_EQ(prod.status, 125) << prod.err;
  EXPECT_NE(prod.err.find("cgroup"), std::string::npos) << prod.err;
  EXPECT_TRUE(leftover_sandboxes().empty());
}

// ---- rootfs | memory limit: production requires --rootfs, --memory and --cpus

TEST_F(ModesTest, ProductionRequiresRootfsMemoryAndCpus) {
  auto r = in_mode("production", {}, {"true"});
  expect_rule(r, "--rootfs", "production");
  EXPECT_NE(r.err.find("--memory"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--cpus"), std::string::npos) << r.err;
  expect_rule(in_mode("production", {"--rootfs", rootfs(), "--memory", "256m"}, {"true"}),
              "--cpus");
  expect_rule(in_mode("production", {"--rootfs", rootfs(), "--cpus", "1"}, {"true"}), "--memory");
  expect_rule(in_mode("production", {"--memory", "256m", "--cpus", "1"}, {"true"}), "--rootfs");
  auto ok = production({}, {"cat", "/etc/marker"});
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(ok.out, "from the rootfs\n");
  // Agent and strict-agent run on host binds without any of them.
  EXPECT_EQ(in_mode("agent", {}, {"true"}).status, 0);
  EXPECT_EQ(in_mode("strict-agent", {}, {"true"}).status, 0);
}

// ---- workspace: production workspace is non-executable unless read-only

TEST_F(ModesTest, ProductionWorkspaceIsNotExecutableUnlessReadOnly) {
  std::string ws = scratch_ + "/ws";
  stdfs::create_directories(ws);
  stdfs::copy_file("/usr/bin/true", ws + "/tool");
  auto rw = production({"--workspace", ws}, {"/bin/sh", "-c", "/workspace/tool; echo $?"});
  EXPECT_EQ(rw.status, 0) << rw.err;
  EXPECT_EQ(rw.out, "126\n") << "a writable production workspace must not be executable";
  auto ro = production({"--workspace", ws, "--workspace-mode", "bind-ro"},
                       {"/bin/sh", "-c", "/workspace/tool; echo $?"});
  EXPECT_EQ(ro.status, 0) << ro.err;
  EXPECT_EQ(ro.out, "0\n");
  auto agent = in_mode("agent", {"--workspace", ws}, {"/bin/sh", "-c", "/workspace/tool; echo $?"});
  EXPECT_EQ(agent.out, "0\n") << agent.err;
}

// ---- egress: optional | optional | deny-all default

TEST_F(ModesTest, ProductionEgressIsDenyAllByDefault) {
  net_->spawn_upstream("exec /usr/bin/python3 -m http.server --bind 203.0.113.10 8080");
  ASSERT_TRUE(eventually([&] {
    return net_->in_host({"bash", "-c", "exec 3<>/dev/tcp/203.0.113.10/8080"}).status == 0;
  }, 20s)) << "upstream server did not come up";
  const std::vector<std::string> connect = {
      "/bin/bash", "-c", "timeout 5 bash -c 'exec 3<>/dev/tcp/203.0.113.10/8080' && echo open"};
  std::vector<std::string> bridge = {"--network", "bridge", "--dns", "198.51.100.2"};
  auto agent = in_mode("agent", bridge, connect);
  EXPECT_EQ(agent.out, "open\n") << "control: agent mode reaches upstream: " << agent.err;
  auto denied = production(bridge, connect);
  EXPECT_EQ(denied.out, "") << "production must deny egress by default: " << denied.err;
  EXPECT_NE(denied.status, 0);
  auto allowed_flags = bridge;
  allowed_flags.insert(allowed_flags.end(), {"--egress-allow", "203.0.113.10/32"});
  auto allowed = production(allowed_flags, connect);
  EXPECT_EQ(allowed.out, "open\n") << allowed.err;
}

// ---- PID 1: direct exec | direct exec | mini-init

TEST_F(ModesTest, AgentWorkloadIsPid1) {
  auto r = in_mode("agent", {}, {"/bin/sh", "-c", "echo $$"});
  EXPECT_EQ(r.out, "1\n") << r.err;
}

TEST_F(ModesTest, ProductionPid1IsAMiniInitThatKeepsTheExitStatus) {
  auto r = production({}, {"/bin/sh", "-c", "echo $$; exit 7"});
  EXPECT_EQ(r.status, 7) << r.err;
  EXPECT_NE(r.out, "1\n") << "the workload must not be PID 1 in production";
  EXPECT_FALSE(r.out.empty());
}

TEST_F(ModesTest, ProductionMiniInitReapsOrphanedZombies) {
  // The inner shell leaves a short sleep behind; it is re-parented to PID 1 and, once it exits,
  // only PID 1 can reap it. A /proc entry that stays in state Z means nobody did.
  auto r = production({}, {"/bin/sh", "-c",
                           "/bin/sh -c 'sleep 0.2 & echo $! > /tmp/orphan'; p=$(cat /tmp/orphan); "
                           "i=0; while [ -e /proc/$p ] && [ $i -lt 200 ]; do sleep 0.05; "
                           "i=$((i+1)); done; "
                           "if [ -e /proc/$p ]; then echo zombie; cat /proc/$p/stat; "
                           "else echo reaped; fi"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "reaped\n");
}

TEST_F(ModesTest, ProductionForwardsSignalsToTheWorkload) {
  // sleep has no SIGTERM handler: as PID 1 (agent) the kernel would drop the signal; under the
  // mini-init it is delivered and kills sleep, and the status says so.
  Spawned sandbox(argv_for({"run", "--service-mode", "production", "--rootfs", rootfs(),
                            "--memory", "256m", "--cpus", "1", "--name", "fwd",
                            "--stop-timeout", "60", "--", "sleep", "600"}));
  ASSERT_TRUE(eventually([&] {
    return nuc({"state", "fwd", "--format", "json"}).out.find("\"running\"") != std::string::npos;
  }, 30s));
  sandbox.signal(SIGTERM);
  auto r = sandbox.wait(30s);
  EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
  EXPECT_TRUE(leftover_sandboxes().empty());
}

// ---- uid/gid: root | userns remap when run as host root | drop via --user/--group

TEST_F(ModesTest, StrictAgentRemapsHostRootThroughAUserNamespace) {
  auto r = in_mode("strict-agent", probe_volume(), {"/probe"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = json::parse(first_line(r.out), nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  ASSERT_TRUE(j["uid_map"].is_array() && !j["uid_map"].empty()) << j.dump();
  EXPECT_NE(j["uid_map"][0][1], 0) << "root inside must not be root outside: " << j["uid_map"];
  EXPECT_NE(j["uid_map"][0][2], 4294967295u) << j["uid_map"];
  auto agent = nuc({"run", "-v", probe_binary() + ":/probe:ro", "--", "/probe"});
  auto a = json::parse(first_line(agent.out), nullptr, false);
  ASSERT_TRUE(a.is_object()) << agent.out << agent.err;
  EXPECT_EQ(a["uid_map"], json::parse("[[0,0,4294967295]]"));
}

TEST_F(ModesTest, ProductionDropsToUserAndGroup) {
  REQUIRE_FLAGS("--group");
  auto r = production({"--user", "1000", "--group", "1001"},
                      {"/bin/sh", "-c", "id -u; id -g; grep CapEff /proc/self/status"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "1000\n1001\nCapEff:\t0000000000000000\n");
}

// The generated /etc files bound over a --rootfs are readable by a non-root workload whatever
// nucleus's umask.
TEST_F(ModesTest, ProductionGeneratedEtcIsReadableByTheUserWhateverTheUmask) {
  rootfs();  // made before the umask changes: it stands for a tree the operator prepared
  mode_t old_mask = umask(077);
  auto r = production({"--user", "1000", "--hostname", "etc-check"},
                      {"/bin/sh", "-c", "cat /etc/hostname; stat -c %a /etc/passwd"});
  umask(old_mask);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "etc-check\n644\n");
}

// ---- secrets: tmpfs everywhere (production also zeroes its buffers, not visible from outside)

TEST_F(ModesTest, ProductionSecretsAreReadOnlyTmpfsFiles) {
  REQUIRE_FLAGS("--secret");
  write(scratch_ + "/key", "k3y\n");
  auto r = production({"--secret", scratch_ + "/key:db_key"},
                      {"/bin/sh", "-c", "cat /run/secrets/db_key; stat -c %a /run/secrets/db_key"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "k3y\n400\n");
}

// ---- /proc: normal | normal | hidepid=2

TEST_F(ModesTest, ProductionHidesOtherProcessesInProc) {
  const std::vector<std::string> show = {"/bin/sh", "-c", "grep ' /proc ' /proc/self/mountinfo"};
  auto prod = production({}, show);
  EXPECT_EQ(prod.status, 0) << prod.err;
  EXPECT_TRUE(prod.out.find("hidepid=2") != std::string::npos ||
              prod.out.find("hidepid=invisible") != std::string::npos) << prod.out;
  auto agent = in_mode("agent", {}, show);
  EXPECT_EQ(agent.out.find("hidepid"), std::string::npos) << agent.out;
}

// ---- seccomp trace mode: allowed | forbidden | forbidden

TEST_F(ModesTest, SeccompTraceOnlyInAgentMode) {
  REQUIRE_FLAGS("--seccomp-mode", "--seccomp-log");
  std::vector<std::string> trace = {"--seccomp-mode", "trace", "--seccomp-log",
                                    scratch_ + "/trace.log"};
  auto agent = in_mode("agent", trace, {"true"});
  EXPECT_EQ(agent.status, 0) << agent.err;
  EXPECT_TRUE(stdfs::exists(scratch_ + "/trace.log"));
  expect_rule(in_mode("strict-agent", trace, {"true"}), "--seccomp-mode", "strict-agent");
  expect_rule(production(trace, {"true"}), "--seccomp-mode", "production");
}

// ---- Landlock: best effort | required | ABI v3 minimum (this kernel has it: both run)

TEST_F(ModesTest, StrictModesRunWithLandlockEnforced) {
  // The proof that Landlock is on: /tmp is a writable mount, but the policy has no rule for it.
  REQUIRE_FLAGS("--landlock-policy", "--landlock-policy-sha256");
  std::string policy = scratch_ + "/ll.toml";
  std::string text = "version = 1\nreplace_defaults = true\nrx = [\"/usr\", \"/bin\", \"/lib\", "
                     "\"/lib64\"]\nro = [\"/etc\", \"/proc\"]\n";
  write(policy, text);
  std::vector<std::string> flags = {"--landlock-policy", policy, "--landlock-policy-sha256",
                                    security::sha256_hex(text)};
  // No redirection to /dev/null: the policy does not list /dev.
  const std::vector<std::string> touch = {"/bin/sh", "-c", "touch /tmp/x || echo denied"};
  EXPECT_EQ(in_mode("strict-agent", flags, touch).out, "denied\n");
  EXPECT_EQ(production(flags, touch).out, "denied\n");
}

// ---- policy files: optional | optional | SHA-256 pin required

TEST_F(ModesTest, ProductionRequiresPinnedPolicyFiles) {
  REQUIRE_FLAGS("--seccomp-profile", "--caps-policy", "--landlock-policy");
  std::string caps = scratch_ + "/caps.toml", ll = scratch_ + "/ll.toml",
              sc = scratch_ + "/sc.json";
  std::string caps_text = "keep = []\n";
  std::string ll_text = "version = 1\n";
  std::string sc_text = R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]})";
  write(caps, caps_text);
  write(ll, ll_text);
  write(sc, sc_text);
  expect_rule(production({"--caps-policy", caps}, {"true"}), "--caps-policy-sha256", "production");
  expect_rule(production({"--landlock-policy", ll}, {"true"}), "--landlock-policy-sha256",
              "production");
  expect_rule(production({"--seccomp-profile", sc}, {"true"}), "--seccomp-profile-sha256",
              "production");
  // Unpinned files are fine in the other modes.
  EXPECT_EQ(in_mode("strict-agent", {"--caps-policy", caps}, {"true"}).status, 0);
  // Pinned: production runs.
  auto pinned = production({"--caps-policy", caps, "--caps-policy-sha256",
                            security::sha256_hex(caps_text), "--landlock-policy", ll,
                            "--landlock-policy-sha256", security::sha256_hex(ll_text)},
                           {"true"});
  EXPECT_EQ(pinned.status, 0) << pinned.err;
}

}  // namespace
}  // namespace nucleus::testing
