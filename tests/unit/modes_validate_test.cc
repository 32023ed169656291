// Unit tests of the service-mode table as validation rules (no privileges needed).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "core/spec/hardening_validate.h"
#include "core/spec/validate.h"

namespace nucleus {
namespace {

SandboxSpec base(const std::string& mode) {
  SandboxSpec s;
  s.command = {"/bin/true"};
  s.state_root = "/tmp/nucleus-unit-state";
  s.service_mode = mode;
  return s;
}

bool has_error(const Validated& v, const std::string& flag) {
  for (const auto& e : v.errors)
    if (e.flag == flag) return true;
  return false;
}

TEST(Modes, AgentAllowsDegradedFlagsStrictModesForbidThem) {
  for (const char* mode : {"strict-agent", "mitos-agent", "production"}) {
    auto s = base(mode);
    s.allow_degraded_security = true;
    s.allow_chroot_fallback = true;
    auto v = validate(s, 0);
    EXPECT_TRUE(has_error(v, "--allow-degraded-security")) << mode;
    EXPECT_TRUE(has_error(v, "--allow-chroot-fallback")) << mode;
  }
  auto s = base("agent");
  s.allow_degraded_security = true;
  auto v = validate(s, 0);
  ASSERT_TRUE(v.spec);
  EXPECT_TRUE(v.spec->allow_degraded_security);
}

TEST(Modes, HostNetworkOnlyInAgentMode) {
  auto s = base("strict-agent");
  s.network = "host";
  s.allow_host_network = true;
  EXPECT_TRUE(has_error(validate(s, 0), "--network"));
  s.service_mode = "agent";
  EXPECT_TRUE(validate(s, 0).spec);
}

TEST(Modes, BridgeDnsMustBeExplicitInStrictModes) {
  auto s = base("strict-agent");
  s.network = "bridge";
  EXPECT_TRUE(has_error(validate(s, 0), "--dns"));
  s.dns = {"198.51.100.2"};
  EXPECT_FALSE(has_error(validate(s, 0), "--dns"));
}

TEST(Modes, ResourceFlagErrorsNameTheFlagOnce) {
  auto s = base("agent");
  s.memory = "1m";
  s.cpus = "0";
  s.pids = "x";
  auto v = validate(s, 0);
  std::vector<std::string> messages;
  for (const auto& e : v.errors) messages.push_back(e.message());
  EXPECT_NE(std::find(messages.begin(), messages.end(), "--memory: must be at least 4m"),
            messages.end());
  EXPECT_NE(std::find(messages.begin(), messages.end(), "--cpus: must be at least 0.01"),
            messages.end());
  EXPECT_NE(std::find(messages.begin(), messages.end(), "--pids: 'x' is not a whole number"),
            messages.end());
}

// Policy-file errors keep the file and the system's reason (they come from the file layer, not
// from a parser that names the flag).
TEST(Modes, MissingPolicyFilesSayWhichFileAndWhy) {
  auto s = base("agent");
  s.seccomp_profile = "/nonexistent-nucleus-test/profile.json";
  s.caps_policy = "/nonexistent-nucleus-test/caps.toml";
  s.landlock_policy = "/nonexistent-nucleus-test/landlock.toml";
  auto v = validate(s, 0);
  int seen = 0;
  for (const auto& e : v.errors) {
    if (e.flag != "--seccomp-profile" && e.flag != "--caps-policy" && e.flag != "--landlock-policy")
      continue;
    ++seen;
    EXPECT_NE(e.message().find("/nonexistent-nucleus-test/"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("No such file or directory"), std::string::npos) << e.message();
  }
  EXPECT_EQ(seen, 3);
}

TEST(Modes, ProductionNeedsRootfsMemoryAndCpus) {
  auto v = validate(base("production"), 0);
  EXPECT_TRUE(has_error(v, "--rootfs"));
  EXPECT_TRUE(has_error(v, "--memory"));
  EXPECT_TRUE(has_error(v, "--cpus"));
}

TEST(Modes, TraceForbiddenInStrictModes) {
  auto s = base("strict-agent");
  s.seccomp_mode = "trace";
  s.seccomp_log = "/tmp/trace.log";
  EXPECT_TRUE(has_error(validate(s, 0), "--seccomp-mode"));
  s.service_mode = "agent";
  auto v = validate(s, 0);
  ASSERT_TRUE(v.spec) << v.errors.front().message();
  EXPECT_EQ(v.spec->seccomp.mode, security::SeccompMode::kTrace);
}

TEST(Modes, ProductionRequiresPinsOnPolicyFiles) {
  std::string file = "/tmp/nucleus-unit-caps.toml";
  std::ofstream(file) << "keep = []\n";
  auto s = base("production");
  s.caps_policy = file;
  EXPECT_TRUE(has_error(validate(s, 0), "--caps-policy-sha256"));
  s.service_mode = "agent";
  EXPECT_FALSE(has_error(validate(s, 0), "--caps-policy-sha256"));
  s.caps_policy_sha256 = std::string(64, '0');  // wrong pin: refused even in agent mode
  EXPECT_TRUE(has_error(validate(s, 0), "--caps-policy"));
}

TEST(Modes, StrictModesAsRootRemapIdsAndRequireCgroupsAndLandlock) {
  auto v = validate(base("strict-agent"), 0);
  ASSERT_TRUE(v.spec);
  EXPECT_TRUE(v.spec->user_namespace);
  EXPECT_TRUE(v.spec->cgroup_required);
  EXPECT_GE(v.spec->landlock_min_abi, 1);
  auto agent = validate(base("agent"), 0);
  ASSERT_TRUE(agent.spec);
  EXPECT_FALSE(agent.spec->user_namespace);
  EXPECT_FALSE(agent.spec->cgroup_required);
  EXPECT_EQ(agent.spec->limits.pids, 512u);
}

TEST(Modes, ProductionSwitches) {
  auto s = base("production");
  s.rootfs = "/";  // any existing dir with proc/dev/tmp passes validation
  s.memory = "256m";
  s.cpus = "1";
  auto v = validate(s, 0);
  ASSERT_TRUE(v.spec) << v.errors.front().message();
  EXPECT_TRUE(v.spec->mini_init);
  EXPECT_TRUE(v.spec->hide_pids);
  EXPECT_TRUE(v.spec->mount_audit);
  EXPECT_TRUE(v.spec->zero_secret_buffers);
  EXPECT_EQ(v.spec->landlock_min_abi, 3);
}

TEST(Modes, UnknownModeAndLimits) {
  auto s = base("paranoid");
  EXPECT_TRUE(has_error(validate(s, 0), "--service-mode"));
  s = base("agent");
  s.memory = "lots";
  s.pids = "0";
  s.cpus = "-1";
  auto v = validate(s, 0);
  EXPECT_TRUE(has_error(v, "--memory"));
  EXPECT_TRUE(has_error(v, "--pids"));
  EXPECT_TRUE(has_error(v, "--cpus"));
}

TEST(Modes, SecretsNeedRegularFilesAndPlainNames) {
  std::string file = "/tmp/nucleus-unit-secret";
  std::ofstream(file) << "s3cret";
  auto s = base("agent");
  s.secrets = {file + ":api", file + ":/run/secrets/other"};
  auto v = validate(s, 0);
  ASSERT_TRUE(v.spec) << v.errors.front().message();
  EXPECT_EQ(v.spec->secrets[1].name, "other");
  for (std::string bad : std::vector<std::string>{file + ":../x", "/nope:x", "rel:x", file + ":a/b"}) {
    s.secrets = {bad};
    EXPECT_TRUE(has_error(validate(s, 0), "--secret")) << bad;
  }
}

}  // namespace
}  // namespace nucleus
