// Parsers and plan builders of the security modules (no privileges needed).
#include <gtest/gtest.h>
#include <linux/capability.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "core/security/caps.h"
#include "core/security/landlock.h"
#include "core/security/seccomp.h"
#include "core/security/seccomp_profile.h"
#include "core/security/seccomp_tables.h"

namespace nucleus::security {
namespace {

// ---- capabilities ----

TEST(CapsPolicy, NamesResolveInAnySpelling) {
  EXPECT_EQ(capability_from_name("CAP_CHOWN"), CAP_CHOWN);
  EXPECT_EQ(capability_from_name("net_bind_service"), CAP_NET_BIND_SERVICE);
  EXPECT_EQ(capability_from_name("Cap_Kill"), CAP_KILL);
  EXPECT_EQ(capability_from_name("CAP_CHECKPOINT_RESTORE"), 40);
  EXPECT_FALSE(capability_from_name("CAP_FLY"));
  EXPECT_EQ(capability_name(CAP_NET_RAW), "CAP_NET_RAW");
}

TEST(CapsPolicy, ParsesKeepListSortedAndUnique) {
  auto p = parse_caps_policy("version = 1\nkeep = [\"kill\", \"CAP_CHOWN\", \"chown\"]\n");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->keep, (std::vector<int>{CAP_CHOWN, CAP_KILL}));
  auto empty = parse_caps_policy("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->keep.empty());
}

TEST(CapsPolicy, RejectsEscapeCapsUnknownNamesAndBadShapes) {
  for (const char* cap : {"SYS_ADMIN", "CAP_SYS_MODULE", "dac_read_search", "CAP_BPF",
                          "sys_ptrace", "CAP_SETFCAP"}) {
    auto p = parse_caps_policy(std::string("keep = [\"") + cap + "\"]");
    ASSERT_FALSE(p) << cap;
    EXPECT_NE(p.error().message().find("never be kept"), std::string::npos);
  }
  EXPECT_FALSE(parse_caps_policy("keep = [\"CAP_FLY\"]"));
  EXPECT_FALSE(parse_caps_policy("keep = \"CAP_CHOWN\""));
  EXPECT_FALSE(parse_caps_policy("keep = [1]"));
  EXPECT_FALSE(parse_caps_policy("drop = []"));
  EXPECT_FALSE(parse_caps_policy("version = 2"));
  EXPECT_FALSE(parse_caps_policy("keep = [")); // TOML syntax error is an error, not a throw
}

// toml++ 3.3 reaches undefined behaviour on some non-ASCII bytes outside strings (found by the
// fuzzers); policy files must be ASCII, with \uXXXX escapes in strings for anything else.
TEST(TomlPolicies, NonAsciiBytesAreRefusedWithTheLineEscapesAreFine) {
  auto caps = parse_caps_policy("version = 1\nd\xc7\xb9 = 1\n");
  ASSERT_FALSE(caps);
  EXPECT_EQ(caps.error().message(),
            "--caps-policy: line 2: non-ASCII byte (write such characters in strings as \\uXXXX)");
  auto landlock = parse_landlock_policy("version = 1\n# caf\xc3\xa9\n");
  ASSERT_FALSE(landlock);
  EXPECT_NE(landlock.error().message().find("--landlock-policy: line 2: non-ASCII"),
            std::string::npos);
  // A malformed document that tripped toml++'s debug assertions is an ordinary parse error.
  auto assert_input = parse_caps_policy("[+\nkee =p = []\n");
  ASSERT_FALSE(assert_input);
  EXPECT_NE(assert_input.error().message().find("--caps-policy: line 1:"), std::string::npos);
  auto escaped = parse_caps_policy("version = 1\nkeep = [\"kill\"] # \\u00e9 in a comment is ASCII\n");
  EXPECT_TRUE(escaped) << escaped.error().message();
}

TEST(CapsPlan, KeepMaskFollowsPolicy) {
  auto plan = prepare_caps(CapsPolicy{{CAP_CHOWN, CAP_NET_BIND_SERVICE}});
  ASSERT_TRUE(plan) << plan.error().message();
  EXPECT_EQ(plan->keep_mask, (1ULL << CAP_CHOWN) | (1ULL << CAP_NET_BIND_SERVICE));
  EXPECT_GE(plan->last_cap, CAP_AUDIT_READ);
  auto none = prepare_caps(std::nullopt);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->keep_mask, 0U);
}

// ---- landlock ----

const LandlockRule* find_rule(const LandlockPlan& plan, std::string_view path) {
  for (std::size_t i = 0; i < plan.rule_count; ++i) {
    if (std::string_view(plan.rules[i].path.data()) == path) return &plan.rules[i];
  }
  return nullptr;
}

constexpr std::uint64_t kExec = 1ULL << 0, kWriteFile = 1ULL << 1, kReadFile = 1ULL << 2,
                        kMakeChar = 1ULL << 6, kMakeReg = 1ULL << 8, kRefer = 1ULL << 13,
                        kTruncate = 1ULL << 14, kIoctlDev = 1ULL << 15;

TEST(Landlock, HandledRightsGrowWithAbi) {
  EXPECT_EQ(landlock_handled_fs(0), 0U);
  EXPECT_EQ(landlock_handled_fs(1), 0x1fffU);
  EXPECT_EQ(landlock_handled_fs(2), 0x3fffU);
  EXPECT_EQ(landlock_handled_fs(3), 0x7fffU);
  EXPECT_EQ(landlock_handled_fs(4), 0x7fffU);
  EXPECT_EQ(landlock_handled_fs(5), 0xffffU);
  EXPECT_EQ(landlock_handled_fs(7), 0xffffU);
}

TEST(Landlock, DefaultPlanGrantsSystemReadExecAndTmpWrite) {
  auto plan = prepare_landlock(LandlockOptions{}, 5);
  ASSERT_TRUE(plan) << plan.error().message();
  const LandlockRule* usr = find_rule(*plan, "/usr");
  ASSERT_NE(usr, nullptr);
  EXPECT_TRUE(usr->access & kExec);
  EXPECT_FALSE(usr->access & kWriteFile);
  const LandlockRule* etc = find_rule(*plan, "/etc");
  ASSERT_NE(etc, nullptr);
  EXPECT_TRUE(etc->access & kReadFile);
  EXPECT_FALSE(etc->access & (kWriteFile | kExec));
  const LandlockRule* tmp = find_rule(*plan, "/tmp");
  ASSERT_NE(tmp, nullptr);
  EXPECT_TRUE(tmp->access & kMakeReg);
  const LandlockRule* dev = find_rule(*plan, "/dev");
  ASSERT_NE(dev, nullptr);
  EXPECT_TRUE(dev->access & kWriteFile);
  EXPECT_TRUE(dev->access & kIoctlDev);
  EXPECT_FALSE(dev->access & kMakeChar);  // no mknod of devices
  const LandlockRule* ws = find_rule(*plan, "/workspace");
  ASSERT_NE(ws, nullptr);
  EXPECT_TRUE(ws->access & kWriteFile);
}

TEST(Landlock, AccessIsMaskedToTheRunningAbi) {
  auto plan = prepare_landlock(LandlockOptions{}, 1);
  ASSERT_TRUE(plan);
  for (std::size_t i = 0; i < plan->rule_count; ++i) {
    EXPECT_EQ(plan->rules[i].access & ~0x1fffULL, 0U) << plan->rules[i].path.data();
  }
  auto v3 = prepare_landlock(LandlockOptions{}, 3);
  ASSERT_TRUE(v3);
  EXPECT_TRUE(find_rule(*v3, "/tmp")->access & (kRefer | kTruncate));
  EXPECT_FALSE(find_rule(*v3, "/dev")->access & kIoctlDev);
  EXPECT_EQ(v3->scoped, 0U);
  auto v6 = prepare_landlock(LandlockOptions{}, 6);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->scoped, 3U);
  auto none = prepare_landlock(LandlockOptions{}, 0);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->rule_count, 0U);
}

TEST(Landlock, WorkspaceModesVolumesAndMerging) {
  LandlockOptions ro;
  ro.workspace = WorkspaceAccess::kReadOnly;
  ro.volumes = {{"/data", LandlockAccess::kRead}, {"/data", LandlockAccess::kReadWrite}};
  auto plan = prepare_landlock(ro, 5);
  ASSERT_TRUE(plan);
  EXPECT_FALSE(find_rule(*plan, "/workspace")->access & kWriteFile);
  EXPECT_TRUE(find_rule(*plan, "/data")->access & kWriteFile);  // union of both entries
  int data_rules = 0;
  for (std::size_t i = 0; i < plan->rule_count; ++i) {
    data_rules += std::string_view(plan->rules[i].path.data()) == "/data";
  }
  EXPECT_EQ(data_rules, 1);

  LandlockOptions none;
  none.workspace = WorkspaceAccess::kNone;
  auto p2 = prepare_landlock(none, 5);
  ASSERT_TRUE(p2);
  EXPECT_EQ(find_rule(*p2, "/workspace"), nullptr);

  LandlockOptions bad;
  bad.volumes = {{"relative", LandlockAccess::kRead}};
  EXPECT_FALSE(prepare_landlock(bad, 5));
  bad.volumes = {{"/a/../etc", LandlockAccess::kRead}};
  EXPECT_FALSE(prepare_landlock(bad, 5));
  bad.volumes.assign(80, {"/v", LandlockAccess::kRead});
  for (int i = 0; i < 80; ++i) bad.volumes[i].path = "/v" + std::to_string(i);
  EXPECT_FALSE(prepare_landlock(bad, 5));  // more than kLandlockMaxRules
}

TEST(Landlock, PolicyFileParsesAndCanReplaceDefaults) {
  auto p = parse_landlock_policy(
      "version = 1\nreplace_defaults = true\nro = [\"/etc\"]\nrx = [\"/usr\"]\n"
      "rw = [\"/scratch\"]\nrwx = [\"/build\"]\n");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_TRUE(p->replace_defaults);
  ASSERT_EQ(p->paths.size(), 4U);
  LandlockOptions options;
  options.workspace = WorkspaceAccess::kNone;
  options.policy = *p;
  auto plan = prepare_landlock(options, 5);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->rule_count, 4U);
  EXPECT_EQ(find_rule(*plan, "/tmp"), nullptr);
  EXPECT_TRUE(find_rule(*plan, "/build")->access & kExec);
  EXPECT_FALSE(find_rule(*plan, "/scratch")->access & kExec);

  EXPECT_FALSE(parse_landlock_policy("rw = [\"tmp\"]"));
  EXPECT_FALSE(parse_landlock_policy("write = [\"/tmp\"]"));
  EXPECT_FALSE(parse_landlock_policy("rw = \"/tmp\""));
  EXPECT_FALSE(parse_landlock_policy("replace_defaults = \"yes\""));
  EXPECT_FALSE(parse_landlock_policy("rw = [\"/tmp\""));
}

// ---- seccomp tables, profiles, trace logs ----

TEST(SeccompTables, ListsAreDisjointAndSized) {
  auto allow = seccomp_default_allowlist();
  EXPECT_GE(allow.size(), 170U);
  EXPECT_LE(allow.size(), 260U);
  for (auto name : allow) EXPECT_FALSE(seccomp_is_denied(name)) << name;
  for (auto name : seccomp_opt_in_syscalls()) EXPECT_FALSE(seccomp_is_denied(name)) << name;
  for (auto name : {"unshare", "setns", "mount", "ptrace", "bpf", "keyctl", "io_uring_setup",
                    "userfaultfd", "kexec_load", "init_module", "perf_event_open", "pivot_root"}) {
    EXPECT_TRUE(seccomp_is_denied(name)) << name;
    EXPECT_EQ(std::find(allow.begin(), allow.end(), name), allow.end()) << name;
  }
}

TEST(SeccompAllow, OnlyOptInNamesAccepted) {
  EXPECT_TRUE(validate_seccomp_allow({"mbind", "personality"}));
  EXPECT_FALSE(validate_seccomp_allow({"unshare"}));
  EXPECT_FALSE(validate_seccomp_allow({"ptrace"}));
  EXPECT_FALSE(validate_seccomp_allow({"frobnicate"}));
}

TEST(SeccompProfile, ParsesOciSubset) {
  auto p = parse_seccomp_profile(R"({
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [
      {"names": ["read", "write", "unshare"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
      {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0}]},
      {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_BOOT"]}}
    ]})");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->default_action, SeccompAction::kErrno);
  EXPECT_EQ(p->default_errno, 38);
  ASSERT_EQ(p->rules.size(), 3U);
  EXPECT_EQ(p->rules[0].names, (std::vector<std::string>{"read", "write"}));  // unshare dropped
  EXPECT_EQ(p->rules[1].action, SeccompAction::kErrno);
  EXPECT_EQ(p->rules[1].errno_ret, 13);
  EXPECT_EQ(p->warnings.size(), 3U);  // unshare, socket args, includes
}

TEST(SeccompProfile, RejectsWhatItCannotHonour) {
  EXPECT_FALSE(parse_seccomp_profile("not json"));
  EXPECT_FALSE(parse_seccomp_profile("[]"));
  EXPECT_FALSE(parse_seccomp_profile(R"({"syscalls": []})"));
  EXPECT_FALSE(parse_seccomp_profile(R"({"defaultAction": "SCMP_ACT_ALLOW"})"));
  EXPECT_FALSE(parse_seccomp_profile(R"({"defaultAction": "SCMP_ACT_NOTIFY"})"));
  EXPECT_FALSE(parse_seccomp_profile(R"({"defaultAction": "SCMP_ACT_ERRNO", "bogus": 1})"));
  EXPECT_FALSE(parse_seccomp_profile(
      R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG"}]})"));
  EXPECT_FALSE(parse_seccomp_profile(
      R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read; rm"], "action": "SCMP_ACT_ALLOW"}]})"));
  EXPECT_FALSE(parse_seccomp_profile(
      R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["fchmodat"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1}]}]})"));
  EXPECT_FALSE(parse_seccomp_profile(
      R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 0})"));
  EXPECT_FALSE(parse_seccomp_profile(
      R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]})"));
}

TEST(SeccompTraceLog, RoundTripsAndGeneratesProfile) {
  std::string log = format_trace_log({"write", "read", "write", "openat"});
  EXPECT_EQ(log, "# nucleus seccomp trace v1\nopenat\nread\nwrite\n");
  auto names = parse_trace_log(log + "\n# comment\n");
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, (std::vector<std::string>{"openat", "read", "write"}));
  EXPECT_FALSE(parse_trace_log("read\n../etc\n"));

  std::string profile = generate_seccomp_profile({"read", "write", "unshare"});
  auto parsed = parse_seccomp_profile(profile);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->default_action, SeccompAction::kErrno);
  ASSERT_EQ(parsed->rules.size(), 1U);
  EXPECT_EQ(parsed->rules[0].names,
            (std::vector<std::string>{"execve", "exit", "exit_group", "read", "write"}));
  EXPECT_TRUE(parsed->warnings.empty());
}

TEST(SeccompBuild, ProducesProgramsForEveryMode) {
  auto enforce = build_seccomp(SeccompOptions{});
  ASSERT_TRUE(enforce) << enforce.error().message();
  EXPECT_GT(enforce->filter.size(), 50U);
  EXPECT_FALSE(enforce->listener);

  SeccompOptions net;
  net.network = true;
  net.extra_allow = {"personality", "mbind"};
  auto with_net = build_seccomp(net);
  ASSERT_TRUE(with_net) << with_net.error().message();

  SeccompOptions trace;
  trace.mode = SeccompMode::kTrace;
  auto traced = build_seccomp(trace);
  ASSERT_TRUE(traced) << traced.error().message();
  EXPECT_TRUE(traced->listener);

  SeccompOptions prof;
  auto parsed = parse_seccomp_profile(generate_seccomp_profile({"read", "write", "socket"}));
  ASSERT_TRUE(parsed);
  prof.profile = *parsed;
  auto from_profile = build_seccomp(prof);
  ASSERT_TRUE(from_profile) << from_profile.error().message();
  EXPECT_LT(from_profile->filter.size(), enforce->filter.size());

  SeccompOptions bad;
  bad.extra_allow = {"setns"};
  EXPECT_FALSE(build_seccomp(bad));
}

}  // namespace
}  // namespace nucleus::security
