// Unit tests of input validation: every bad input is refused with a message naming the flag.
#include "core/spec/validate.h"

#include <gtest/gtest.h>

namespace nucleus {
namespace {

SandboxSpec base() {
  SandboxSpec s;
  s.command = {"/bin/true"};
  s.state_root = "/tmp/nucleus-unit-state";
  return s;
}

// The first error's flag, or "" when valid.
std::string first_flag(const SandboxSpec& s, uid_t euid = 0) {
  auto v = validate(s, euid);
  return v.errors.empty() ? "" : v.errors.front().flag;
}

TEST(Validate, MinimalSpecIsValid) {
  auto v = validate(base(), 0);
  ASSERT_TRUE(v.spec) << v.errors.front().message();
  EXPECT_EQ(v.spec->argv, std::vector<std::string>{"/bin/true"});
  EXPECT_EQ(v.spec->workdir, "/home/agent");
  EXPECT_EQ(v.spec->network, NetworkMode::kNone);
  EXPECT_EQ(v.spec->id.size(), 16u);
  EXPECT_FALSE(v.spec->rootless);
}

TEST(Validate, MissingCommand) {
  auto s = base();
  s.command.clear();
  EXPECT_EQ(first_flag(s), "--");
}

TEST(Validate, BadNames) {
  for (std::string name : std::vector<std::string>{"../x", "a/b", "-lead", std::string(129, 'a'), "sp ace"}) {
    auto s = base();
    s.name = name;
    EXPECT_EQ(first_flag(s), "--name") << name;
  }
  auto s = base();
  s.name = std::string(128, 'a');
  EXPECT_EQ(first_flag(s), "");
  EXPECT_NE(check_id(""), "");
}

TEST(Validate, RelativeAndMissingPaths) {
  auto s = base();
  s.workspace = "relative/dir";
  EXPECT_EQ(first_flag(s), "--workspace");
  s = base();
  s.rootfs = "/does/not/exist";
  EXPECT_EQ(first_flag(s), "--rootfs");
  s = base();
  s.workdir = "tmp";
  EXPECT_EQ(first_flag(s), "--workdir");
  s = base();
  s.state_root = "relative";
  EXPECT_EQ(first_flag(s), "--root");
}

TEST(Validate, VolumeSyntax) {
  for (std::string v : std::vector<std::string>{"/tmp", "/tmp:", "/tmp:data", "/tmp:/data:rx", "/tmp:/data:ro:extra",
                        "/nope:/data", "/tmp:/", "/tmp:/proc/x", "/tmp:/a/../b", "tmp:/data"}) {
    auto s = base();
    s.volumes = {v};
    EXPECT_EQ(first_flag(s), "--volume") << v;
  }
  auto s = base();
  s.volumes = {"/tmp:/data:ro", "/tmp:/other"};
  auto v = validate(s, 0);
  ASSERT_TRUE(v.spec);
  EXPECT_TRUE(v.spec->volumes[0].read_only);
  EXPECT_FALSE(v.spec->volumes[1].read_only);
  s.volumes = {"/tmp:/data", "/tmp:/data/"};
  EXPECT_EQ(first_flag(s), "--volume");
}

TEST(Validate, TmpfsAndSizes) {
  auto s = base();
  s.tmpfs = {"/scratch:64m"};
  auto v = validate(s, 0);
  ASSERT_TRUE(v.spec);
  EXPECT_EQ(v.spec->tmpfs[0].size_bytes, 64u << 20);
  // --tmpfs takes every size --memory takes (one parser, core/base/number.h).
  s.tmpfs = {"/scratch:1.5g"};
  v = validate(s, 0);
  ASSERT_TRUE(v.spec);
  EXPECT_EQ(v.spec->tmpfs[0].size_bytes, 3ULL << 29);
  for (std::string t : std::vector<std::string>{"scratch", "/scratch:0", "/scratch:12q",
                                                "/scratch:1:2", "/scratch:99999999999999999999g"}) {
    s.tmpfs = {t};
    EXPECT_EQ(first_flag(s), "--tmpfs") << t;
  }
}

TEST(Validate, WorkspaceModeAndUser) {
  auto s = base();
  s.workspace_mode = "copy";
  EXPECT_EQ(first_flag(s), "--workspace-mode");
  s = base();
  s.user = "abc";
  EXPECT_EQ(first_flag(s), "--user");
  s.user = "1000:1000";
  EXPECT_EQ(first_flag(s), "");
  EXPECT_EQ(first_flag(s, 1000), "--user");  // rootless: only uid 0 exists inside
}

TEST(Validate, EnvKeys) {
  auto s = base();
  s.env = {"1BAD=x"};
  EXPECT_EQ(first_flag(s), "--env");
  s.env = {"GOOD_1=a=b"};
  auto v = validate(s, 0);
  ASSERT_TRUE(v.spec);
  EXPECT_NE(std::find(v.spec->env.begin(), v.spec->env.end(), "GOOD_1=a=b"), v.spec->env.end());
}

TEST(Validate, NetworkFlags) {
  auto s = base();
  s.network = "bridged";
  EXPECT_EQ(first_flag(s), "--network");
  s.network = "host";
  EXPECT_EQ(first_flag(s), "--network");  // needs --allow-host-network
  s.allow_host_network = true;
  EXPECT_EQ(first_flag(s), "");
  s = base();
  s.publish = {"8080:80"};
  EXPECT_EQ(first_flag(s), "--publish");  // needs --network bridge
  s = base();
  s.network = "bridge";
  s.dns = {"198.51.100.53"};
  for (auto [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"--subnet", "10.0.0.0/33"}, {"--subnet", "10.0.0.0/8"}, {"--subnet", "10.0.0.1/24"},
           {"--bridge", "a-very-long-bridge-name"}, {"--publish", "70000:80"},
           {"--publish", "80:80/sctp"}, {"--ip", "192.0.2.5"}, {"--dns", "not-an-ip"}}) {
    auto t = s;
    if (flag == "--subnet") t.subnet = value;
    if (flag == "--bridge") t.bridge = value;
    if (flag == "--publish") t.publish = {value};
    if (flag == "--ip") t.ip = value;
    if (flag == "--dns") t.dns = {value};
    EXPECT_EQ(first_flag(t), flag) << value;
  }
  auto t = s;
  t.publish = {"8080:80", "8080:81"};
  EXPECT_EQ(first_flag(t), "--publish");  // duplicate host port
  t = s;
  t.nat_backend = "kernel";
  EXPECT_EQ(first_flag(t, 1000), "--nat-backend");
}

TEST(Validate, BridgeDefaults) {
  auto s = base();
  s.network = "bridge";
  auto v = validate(s, 0);
  ASSERT_TRUE(v.spec) << v.errors.front().message();
  EXPECT_EQ(v.spec->net.bridge, "nucleus0");
  EXPECT_EQ(v.spec->net.subnet.to_string(), "10.0.42.0/24");
  ASSERT_EQ(v.spec->net.dns.size(), 2u);
  EXPECT_EQ(v.spec->net.dns[0].to_string(), "8.8.8.8");
}

}  // namespace
}  // namespace nucleus
