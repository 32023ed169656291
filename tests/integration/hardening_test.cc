// Root tests of the default hardening and the hardening flags of `nucleus run` (issue 5): what a
// workload can and cannot do, seen from inside through the probe (tests/probe), plus resource
// limits, seccomp trace -> profile -> enforce, policies and secrets.
//
// Each test first checks that the flags it needs appear in `nucleus run --help` and skips with
// a clear message otherwise, so the file runs before the CLI wiring lands.
//
// nucleus is entered into the throwaway host namespace with nsenter (network namespace only)
// rather than `ip netns exec`, which remounts /sys and so hides /sys/fs/cgroup from nucleus.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/cgroup/cgroup.h"
#include "core/security/sha256.h"
#include "tests/support/sandbox_fixture.h"

namespace nucleus::testing {
namespace {

using namespace std::chrono_literals;
namespace stdfs = std::filesystem;
using nlohmann::json;

constexpr const char* kProbe = "/probe";
constexpr const char* kZeroCaps = "0000000000000000";

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// `nucleus run --help` (or `nucleus SUBCOMMAND --help`), asked once per process.
const std::string& help_of(const std::string& subcommand) {
  static std::map<std::string, std::string> cache;
  auto it = cache.find(subcommand);
  if (it == cache.end()) {
    auto r = run({nucleus_binary(), subcommand, "--help"});
    it = cache.emplace(subcommand, r.status == 0 ? r.out + r.err : "").first;
  }
  return it->second;
}

bool has_flag(const std::string& flag, const std::string& subcommand = "run") {
  std::regex word("(^|[\\s,])" + flag + "([\\s=,]|$)");
  return std::regex_search(help_of(subcommand), word);
}

#define REQUIRE_FLAGS(...)                                                             \
  for (const char* flag_ : {__VA_ARGS__})                                              \
    if (!has_flag(flag_)) GTEST_SKIP() << "nucleus run has no " << flag_ << " yet"

class HardeningTest : public SandboxTest {
 protected:
  std::vector<std::string> argv_for(const std::vector<std::string>& args) const {
    return nucleus_argv(args);
  }
  CommandResult nuc(const std::vector<std::string>& args, std::chrono::milliseconds t = 90s) {
    return nucleus(args, t);
  }
  // `nucleus run FLAGS -v probe:/probe:ro -- /probe PROBE_ARGS`, parsed.
  json probe(std::vector<std::string> flags, const std::vector<std::string>& probe_args = {},
             CommandResult* raw = nullptr) {
    std::vector<std::string> args = {"run"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"-v", probe_binary() + ":" + kProbe + ":ro", "--", kProbe});
    args.insert(args.end(), probe_args.begin(), probe_args.end());
    auto r = nuc(args);
    if (raw) *raw = r;
    EXPECT_EQ(r.status, 0) << r.err;
    auto j = json::parse(first_line(r.out), nullptr, false);
    EXPECT_TRUE(j.is_object()) << "probe output: " << r.out << "\nstderr: " << r.err;
    return j.is_object() ? j : json::object();
  }
};

// The probe run directly on the host: does this kernel execute i386 syscalls at all?
bool host_runs_int80() {
  auto r = run({probe_binary(), "--attempt", "int80_getpid"});
  auto j = json::parse(first_line(r.out), nullptr, false);
  return j.is_object() && j["attempts"]["int80_getpid"].value("ok", false);
}

void expect_refused(const json& attempts, const std::string& name, int err) {
  ASSERT_TRUE(attempts.contains(name)) << name << " missing: " << attempts.dump();
  const json& a = attempts[name];
  EXPECT_FALSE(a.value("ok", true)) << name << " succeeded: " << a.dump();
  EXPECT_FALSE(a.value("killed", false)) << name << " killed instead of failing: " << a.dump();
  EXPECT_EQ(a.value("errno", -1), err) << name << ": " << a.dump();
}

void expect_killed_by_sigsys(const json& attempts, const std::string& name) {
  ASSERT_TRUE(attempts.contains(name)) << name << " missing: " << attempts.dump();
  EXPECT_TRUE(attempts[name].value("killed", false)) << name << ": " << attempts[name].dump();
  EXPECT_EQ(attempts[name].value("signal", 0), SIGSYS) << name << ": " << attempts[name].dump();
}

TEST_F(HardeningTest, DefaultPostureDropsEveryPrivilege) {
  auto j = probe({});
  ASSERT_TRUE(j.contains("status"));
  EXPECT_EQ(j["status"]["NoNewPrivs"], "1");
  EXPECT_EQ(j["status"]["Seccomp"], "2");  // filter mode
  for (const char* set : {"CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"})
    EXPECT_EQ(j["status"][set], kZeroCaps) << set;
  // Agent mode as root keeps the identity map (no user namespace); the map must be readable.
  ASSERT_TRUE(j["uid_map"].is_array()) << j.dump();
  ASSERT_FALSE(j["uid_map"].empty());
  EXPECT_EQ(j["uid"], 0);
}

TEST_F(HardeningTest, ForbiddenActionsFailWithoutNetwork) {
  std::string outside = scratch_ + "/host-only-secret";
  write(outside, "host\n");
  auto j = probe({}, {"--attempt", "all", "--read", outside, "--write", "/usr/nucleus-probe-x",
                      "--write", "/etc/nucleus-probe-x", "--write", "/proc/1/exe"});
  const json& a = j["attempts"];
  for (const char* name : {"unshare_user", "unshare_net", "unshare_mount", "clone_newuser",
                           "mount_tmpfs", "ptrace_traceme", "ptrace_attach", "io_uring_setup",
                           "bpf", "keyctl", "perf_event_open", "userfaultfd", "init_module",
                           "setgroups", "setuid_nobody", "chroot"})
    expect_refused(a, name, EPERM);
  expect_refused(a, "clone3", ENOSYS);  // so libc falls back to clone, whose flags are visible
  for (const char* name : {"socket_inet", "socket_inet6", "socket_netlink", "socket_packet",
                           "socket_vsock"})
    expect_refused(a, name, EAFNOSUPPORT);
  EXPECT_TRUE(a["socket_unix"].value("ok", false)) << a["socket_unix"].dump();
  expect_killed_by_sigsys(a, "x32_getpid");
  if (host_runs_int80()) expect_killed_by_sigsys(a, "int80_getpid");
  // Not mounted into the sandbox at all.
  expect_refused(a, "read:" + outside, ENOENT);
  expect_refused(a, "write:/usr/nucleus-probe-x", EROFS);
  expect_refused(a, "write:/etc/nucleus-probe-x", EROFS);
  EXPECT_FALSE(a["write:/proc/1/exe"].value("ok", true)) << a["write:/proc/1/exe"].dump();
  EXPECT_TRUE(a["write_tmp"].value("ok", false)) << a["write_tmp"].dump();
  EXPECT_TRUE(a["write_workspace"].value("skipped", false));
  EXPECT_EQ(read(outside), "host\n");
}

TEST_F(HardeningTest, NetworkAllowsInetSocketsButNeverRawFamilies) {
  auto j = probe({"--network", "bridge", "--dns", "198.51.100.2"},
                 {"--attempt", "socket_inet,socket_inet6,socket_unix,socket_netlink,socket_packet,"
                               "unshare_net"});
  const json& a = j["attempts"];
  EXPECT_TRUE(a["socket_inet"].value("ok", false)) << a.dump();
  EXPECT_TRUE(a["socket_inet6"].value("ok", false)) << a.dump();
  EXPECT_TRUE(a["socket_unix"].value("ok", false)) << a.dump();
  expect_refused(a, "socket_netlink", EAFNOSUPPORT);
  expect_refused(a, "socket_packet", EAFNOSUPPORT);
  expect_refused(a, "unshare_net", EPERM);
}

TEST_F(HardeningTest, WorkspaceIsWritable) {
  stdfs::create_directories(scratch_ + "/ws");
  auto j = probe({"--workspace", scratch_ + "/ws"}, {"--attempt", "write_workspace"});
  EXPECT_TRUE(j["attempts"]["write_workspace"].value("ok", false)) << j.dump();
}

TEST_F(HardeningTest, MemoryHogIsOomKilledAndNucleusReportsIt) {
  REQUIRE_FLAGS("--memory");
  auto r = nuc({"run", "--name", "hog", "--memory", "32m", "--", "/usr/bin/python3", "-c",
                "x = b'x' * (512 << 20); print('survived')"});
  EXPECT_EQ(r.status, 128 + SIGKILL) << r.out << r.err;
  EXPECT_EQ(r.out.find("survived"), std::string::npos);
  std::regex oom("oom|out of memory|memory", std::regex::icase);
  EXPECT_TRUE(std::regex_search(r.err, oom)) << "stderr does not mention the OOM kill: " << r.err;
  // nucleus itself lived to clean up: no state, no cgroup left.
  EXPECT_TRUE(leftover_sandboxes().empty());
  EXPECT_TRUE(run({"sh", "-c", "find /sys/fs/cgroup -name 'nucleus-hog' | grep -q ."}).status != 0);
}

TEST_F(HardeningTest, ForkBombStopsAtThePidsLimit) {
  REQUIRE_FLAGS("--pids");
  // Builtins only after the bomb: the shell cannot fork `wc` once the limit is reached.
  auto r = nuc({"run", "--pids", "32", "--", "/bin/sh", "-c",
                "/bin/sh -c 'i=0; while [ $i -lt 200 ]; do sleep 30 & echo x >> /tmp/got; "
                "i=$((i+1)); done' 2>/dev/null; "
                "n=0; while read l; do n=$((n+1)); done < /tmp/got; echo $n"},
               120s);
  ASSERT_EQ(r.status, 0) << r.err;
  int got = std::atoi(first_line(r.out).c_str());
  EXPECT_GT(got, 0) << r.out;
  EXPECT_LT(got, 32) << "more sleepers than --pids 32 allows: " << r.out;
  EXPECT_TRUE(leftover_sandboxes().empty());
}

TEST_F(HardeningTest, CpuAndMemoryLimitsReachTheKernel) {
  REQUIRE_FLAGS("--memory", "--cpus", "--cpu-weight", "--pids");
  stdfs::create_directories(scratch_ + "/gate");
  Spawned sandbox(argv_for({"run", "--name", "limited", "--memory", "64m", "--cpus", "0.5",
                            "--cpu-weight", "200", "--pids", "77", "-v", scratch_ + "/gate:/gate",
                            "--", "/bin/sh", "-c",
                            "touch /gate/up; while [ ! -e /gate/go ]; do sleep 0.05; done"}));
  ASSERT_TRUE(eventually([&] { return stdfs::exists(scratch_ + "/gate/up"); }, 30s));
  auto found = run({"sh", "-c", "find /sys/fs/cgroup -type d -name nucleus-limited"});
  std::map<std::string, std::string> files;
  std::istringstream dirs(found.out);
  for (std::string dir; std::getline(dirs, dir);)
    for (const char* name : {"pids.max", "memory.max", "cpu.max", "cpu.weight",
                             "memory.limit_in_bytes", "cpu.cfs_quota_us", "cpu.shares"}) {
      if (!stdfs::exists(dir + "/" + name)) continue;
      std::string v = read(dir + "/" + name);
      files[name] = v.substr(0, v.find('\n'));
    }
  write(scratch_ + "/gate/go", "");
  auto r = sandbox.wait(30s);
  ASSERT_FALSE(files.empty()) << "no cgroup nucleus-limited found: " << found.out << r.err;
  EXPECT_EQ(files["pids.max"], "77");
  if (files.contains("memory.max")) {  // v2
    EXPECT_EQ(files["memory.max"], std::to_string(64 << 20));
    EXPECT_EQ(files["cpu.max"], "50000 100000");
    EXPECT_EQ(files["cpu.weight"], "200");
  } else {  // v1
    EXPECT_EQ(files["memory.limit_in_bytes"], std::to_string(64 << 20));
    EXPECT_EQ(files["cpu.cfs_quota_us"], "50000");
    EXPECT_EQ(files["cpu.shares"], std::to_string(cgroup::weight_to_shares(200)));
  }
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(HardeningTest, TracedWorkloadsGeneratedProfileEnforces) {
  REQUIRE_FLAGS("--seccomp-mode", "--seccomp-log", "--seccomp-profile");
  if (!has_flag("generate", "seccomp"))
    GTEST_SKIP() << "no `nucleus seccomp generate` yet";
  std::string log = scratch_ + "/trace.log";
  std::string profile = scratch_ + "/profile.json";
  CommandResult traced;
  auto t = probe({"--seccomp-mode", "trace", "--seccomp-log", log}, {}, &traced);
  ASSERT_TRUE(stdfs::exists(log)) << traced.err;
  std::string names = read(log);
  EXPECT_TRUE(names.starts_with("# nucleus seccomp trace v1")) << names;
  EXPECT_NE(names.find("\nwrite\n"), std::string::npos) << names;

  auto g = nuc({"seccomp", "generate", log, "-o", profile});
  ASSERT_EQ(g.status, 0) << g.err;
  auto p = json::parse(read(profile), nullptr, false);
  ASSERT_TRUE(p.is_object()) << read(profile);
  EXPECT_NE(p.value("defaultAction", ""), "SCMP_ACT_ALLOW");

  // The same workload runs under its own profile ...
  auto again = probe({"--seccomp-profile", profile});
  EXPECT_EQ(again["status"]["Seccomp"], "2");
  // ... and what it never did during the trace is refused now.
  auto extra = probe({"--seccomp-profile", profile}, {"--attempt", "socket_unix"});
  EXPECT_FALSE(extra["attempts"]["socket_unix"].value("ok", true)) << extra.dump();
}

TEST_F(HardeningTest, SecretsAreInMemoryReadOnlyFiles) {
  REQUIRE_FLAGS("--secret");
  write(scratch_ + "/token", "s3cret\n");
  auto r = nuc({"run", "--secret", scratch_ + "/token:api_token", "--", "/bin/sh", "-c",
                "cat /run/secrets/api_token; stat -c %a /run/secrets/api_token; "
                "(echo x > /run/secrets/api_token) 2>/dev/null || echo refused; "
                "grep ' /run/secrets ' /proc/self/mountinfo | grep -c tmpfs"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "s3cret\n400\nrefused\n1\n");
  EXPECT_EQ(read(scratch_ + "/token"), "s3cret\n");
}

TEST_F(HardeningTest, CapsPolicyKeepsOnlyListedCapabilitiesAndChecksItsPin) {
  REQUIRE_FLAGS("--caps-policy", "--caps-policy-sha256");
  std::string policy = scratch_ + "/caps.toml";
  std::string text = "keep = [\"CAP_NET_BIND_SERVICE\"]\n";
  write(policy, text);
  auto j = probe({"--caps-policy", policy, "--caps-policy-sha256", security::sha256_hex(text)});
  EXPECT_EQ(j["status"]["CapEff"], "0000000000000400");  // bit 10
  EXPECT_EQ(j["status"]["CapBnd"], "0000000000000400");
  auto bad = nuc({"run", "--caps-policy", policy, "--caps-policy-sha256",
                  std::string(64, '0'), "--", "true"});
  EXPECT_EQ(bad.status, 125);
  EXPECT_NE(bad.err.find("--caps-policy"), std::string::npos) << bad.err;
  write(policy, "keep = [\"CAP_SYS_ADMIN\"]\n");
  auto escape = nuc({"run", "--caps-policy", policy, "--", "true"});
  EXPECT_EQ(escape.status, 125) << "a policy keeping CAP_SYS_ADMIN must be refused";
}

TEST_F(HardeningTest, LandlockPolicyReplacingDefaultsRestrictsEvenRoot) {
  REQUIRE_FLAGS("--landlock-policy");
  std::string policy = scratch_ + "/landlock.toml";
  write(policy, "version = 1\nreplace_defaults = true\n"
                "rx = [\"/usr\", \"/bin\", \"/lib\", \"/lib64\", \"/probe\"]\n"
                "ro = [\"/etc\", \"/proc\"]\n");
  auto j = probe({"--landlock-policy", policy},
                 {"--attempt", "write_tmp", "--read", "/etc/hostname"});
  EXPECT_GE(j.value("landlock_abi", 0), 1);
  const json& a = j["attempts"];
  expect_refused(a, "write_tmp", EACCES);  // /tmp is a writable mount; only Landlock says no
  EXPECT_TRUE(a["read:/etc/hostname"].value("ok", false)) << a.dump();
}

TEST_F(HardeningTest, SeccompAllowOnlyOptsIntoTheOptInList) {
  REQUIRE_FLAGS("--seccomp-allow");
  EXPECT_EQ(nuc({"run", "--seccomp-allow", "mbind", "--", "true"}).status, 0);
  for (const char* denied : {"bpf", "unshare", "mount", "ptrace", "not_a_syscall"}) {
    auto r = nuc({"run", "--seccomp-allow", denied, "--", "true"});
    EXPECT_EQ(r.status, 125) << denied;
    EXPECT_NE(r.err.find("--seccomp-allow"), std::string::npos) << r.err;
  }
}

TEST_F(HardeningTest, SeccompProfilePinMismatchIsRefused) {
  REQUIRE_FLAGS("--seccomp-profile", "--seccomp-profile-sha256");
  std::string profile = scratch_ + "/p.json";
  write(profile, R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]})");
  auto r = nuc({"run", "--seccomp-profile", profile, "--seccomp-profile-sha256",
                std::string(64, 'a'), "--", "true"});
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("--seccomp-profile"), std::string::npos) << r.err;
  write(profile, R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]})");
  EXPECT_EQ(nuc({"run", "--seccomp-profile", profile, "--", "true"}).status, 125)
      << "an allow-by-default profile is not an allowlist";
}

TEST_F(HardeningTest, UserAndGroupDropRoot) {
  REQUIRE_FLAGS("--user", "--group");
  auto j = probe({"--user", "1000:1000"}, {"--attempt", "setuid0,setgroups"});
  EXPECT_EQ(j["uid"], 1000);
  EXPECT_EQ(j["gid"], 1000);
  expect_refused(j["attempts"], "setuid0", EPERM);
  expect_refused(j["attempts"], "setgroups", EPERM);
  auto g = probe({"--user", "1000", "--group", "2000"});
  EXPECT_EQ(g["uid"], 1000);
  EXPECT_EQ(g["gid"], 2000);
}

}  // namespace
}  // namespace nucleus::testing
