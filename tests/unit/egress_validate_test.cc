// validate_egress(): flags -> EgressConfig, and the network-mode rules.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "core/egress/egress_runtime.h"

namespace nucleus {
namespace {

struct Outcome {
  ValidSpec spec;
  std::vector<ValidationError> errors;
};

Outcome check(const EgressFlags& flags, NetworkMode mode, bool default_deny = false) {
  SandboxSpec in;
  in.egress = flags;
  Outcome o;
  o.spec.network = mode;
  o.spec.net.dns = {*net::IpAddress::parse("198.51.100.2")};
  o.spec.egress.default_deny_all = default_deny;
  o.errors = validate_egress(in, o.spec);
  return o;
}

TEST(EgressValidate, NoFlagsNoEgress) {
  auto o = check({}, NetworkMode::kBridge);
  EXPECT_TRUE(o.errors.empty());
  EXPECT_FALSE(o.spec.egress.enabled);
}

TEST(EgressValidate, AnyFlagMeansDenyByDefaultOnABridge) {
  EgressFlags f;
  f.allow = {"203.0.113.10", "2001:db8::/32"};
  f.tcp_ports = {"443"};
  auto o = check(f, NetworkMode::kBridge);
  ASSERT_TRUE(o.errors.empty()) << o.errors[0].message();
  EXPECT_TRUE(o.spec.egress.enabled);
  EXPECT_FALSE(o.spec.egress.dns_aware());
  EXPECT_EQ(o.spec.egress.policy.allow.size(), 2u);
  EXPECT_FALSE(o.spec.egress.policy.udp_ports);

  EgressFlags ports_only;
  ports_only.udp_ports = {"53"};
  EXPECT_TRUE(check(ports_only, NetworkMode::kBridge).spec.egress.enabled);
}

TEST(EgressValidate, DomainsTurnOnTheDnsProxy) {
  EgressFlags f;
  f.domains = {"api.example.com", "*.cdn.example.com"};
  auto o = check(f, NetworkMode::kBridge);
  ASSERT_TRUE(o.errors.empty());
  EXPECT_TRUE(o.spec.egress.dns_aware());
}

TEST(EgressValidate, HostNetworkIsAnErrorNamingTheFlag) {
  EgressFlags f;
  f.udp_ports = {"53"};
  auto o = check(f, NetworkMode::kHost);
  ASSERT_EQ(o.errors.size(), 1u);
  EXPECT_EQ(o.errors[0].flag, "--egress-udp-port");
  EXPECT_FALSE(o.spec.egress.enabled);
}

TEST(EgressValidate, NoNetworkIsAcceptedButNotEnforced) {
  EgressFlags f;
  f.deny_all = true;
  auto o = check(f, NetworkMode::kNone);
  EXPECT_TRUE(o.errors.empty());
  EXPECT_FALSE(o.spec.egress.enabled);
}

TEST(EgressValidate, BadValuesNameTheirFlag) {
  EgressFlags f;
  f.allow = {"203.0.113.0/33"};
  f.domains = {"*.com"};
  f.tcp_ports = {"0"};
  f.udp_ports = {"x"};
  auto o = check(f, NetworkMode::kBridge);
  std::vector<std::string> flags;
  for (const auto& e : o.errors) flags.push_back(e.flag);
  EXPECT_EQ(flags, (std::vector<std::string>{"--egress-allow", "--egress-domain",
                                             "--egress-tcp-port", "--egress-udp-port"}));
}

TEST(EgressValidate, DenyAllWithAllowEntriesIsAnError) {
  EgressFlags f;
  f.deny_all = true;
  f.allow = {"203.0.113.10"};
  auto o = check(f, NetworkMode::kBridge);
  ASSERT_EQ(o.errors.size(), 1u);
  EXPECT_EQ(o.errors[0].flag, "--egress-deny-all");
}

TEST(EgressValidate, DefaultDenyAllAppliesOnlyWithoutFlags) {
  auto o = check({}, NetworkMode::kBridge, true);
  EXPECT_TRUE(o.spec.egress.enabled);
  EXPECT_TRUE(o.spec.egress.policy.deny_all);
  EgressFlags f;
  f.domains = {"api.example.com"};
  auto with = check(f, NetworkMode::kBridge, true);
  EXPECT_TRUE(with.errors.empty());
  EXPECT_FALSE(with.spec.egress.policy.deny_all);
  EXPECT_TRUE(with.spec.egress.dns_aware());
}

TEST(EgressValidate, PolicyFileMergesWithFlags) {
  std::string path = ::testing::TempDir() + "/egress-policy.toml";
  std::ofstream(path) << "allow = [\"203.0.113.0/24\"]\ndomains = [\"api.example.com\"]\n";
  EgressFlags f;
  f.policy_file = path;
  f.allow = {"2001:db8::/32"};
  auto o = check(f, NetworkMode::kBridge);
  ASSERT_TRUE(o.errors.empty()) << o.errors[0].message();
  EXPECT_EQ(o.spec.egress.policy.allow.size(), 2u);
  EXPECT_TRUE(o.spec.egress.dns_aware());
  std::ofstream(path) << "allow = [\"nope\"]\n";
  auto bad = check(f, NetworkMode::kBridge);
  ASSERT_FALSE(bad.errors.empty());
  EXPECT_EQ(bad.errors[0].flag, "--egress-policy");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace nucleus
