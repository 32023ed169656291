#include <gtest/gtest.h>

#include <fstream>

#include "egress/policy.h"

namespace nucleus::egress {
namespace {

std::string error_of(const Result<DomainPattern>& r) {
  return r ? std::string("<ok>") : r.error().message();
}

Policy with_domains(std::initializer_list<std::string_view> domains) {
  Policy p;
  for (auto d : domains) EXPECT_TRUE(add_domain(p, d)) << d;
  return p;
}

TEST(EgressDomain, ExactNameMatchesCaseInsensitivelyWithOrWithoutTrailingDot) {
  Policy p = with_domains({"API.Example.com."});
  EXPECT_TRUE(p.matches("api.example.com"));
  EXPECT_TRUE(p.matches("api.example.com."));
  EXPECT_TRUE(p.matches("API.EXAMPLE.COM"));
  EXPECT_FALSE(p.matches("example.com"));
  EXPECT_FALSE(p.matches("x.api.example.com"));
  EXPECT_FALSE(p.matches("api.example.com.evil.net"));
  EXPECT_FALSE(p.matches("apiXexample.com"));
  EXPECT_FALSE(p.matches(""));
}

TEST(EgressDomain, WildcardMatchesExactlyOneExtraLabel) {
  Policy p = with_domains({"*.example.com"});
  EXPECT_TRUE(p.matches("a.example.com"));
  EXPECT_TRUE(p.matches("Cdn-1.EXAMPLE.com."));
  EXPECT_FALSE(p.matches("example.com")) << "apex is not covered";
  EXPECT_FALSE(p.matches("a.b.example.com")) << "two labels are not covered";
  EXPECT_FALSE(p.matches(".example.com"));
  EXPECT_FALSE(p.matches("aexample.com"));
  EXPECT_FALSE(p.matches("a.example.com.evil"));
}

TEST(EgressDomain, EscapedDotsInALabelNeverMatch) {
  // The DNS proxy renders a label containing '.' as \046: it must not pass for two labels.
  Policy p = with_domains({"api.example.com", "*.example.com"});
  EXPECT_FALSE(p.matches("api\\046example.com"));
  EXPECT_FALSE(p.matches("a\\046b.example.com"));
}

TEST(EgressDomain, DenyAllMatchesNothing) {
  Policy p = with_domains({"api.example.com"});
  p.deny_all = true;
  EXPECT_FALSE(p.matches("api.example.com"));
}

TEST(EgressDomain, ValidationRejectsBadNamesWithAClearMessage) {
  EXPECT_NE(error_of(parse_domain_pattern("")).find("names no domain"), std::string::npos);
  EXPECT_NE(error_of(parse_domain_pattern(".")).find("names no domain"), std::string::npos);
  EXPECT_NE(error_of(parse_domain_pattern("a..b")).find("empty label"), std::string::npos);
  EXPECT_NE(error_of(parse_domain_pattern(".a.b")).find("empty label"), std::string::npos);
  EXPECT_NE(error_of(parse_domain_pattern("a.b..")).find("empty label"), std::string::npos);
  EXPECT_NE(error_of(parse_domain_pattern("-a.example.com")).find("'-'"), std::string::npos);
  EXPECT_NE(error_of(parse_domain_pattern("a-.example.com")).find("'-'"), std::string::npos);
  EXPECT_NE(error_of(parse_domain_pattern("a_b.example.com")).find("contains '_'"),
            std::string::npos);
  EXPECT_NE(error_of(parse_domain_pattern("a b.com")).find("contains ' '"), std::string::npos);
  EXPECT_NE(error_of(parse_domain_pattern(std::string(64, 'a') + ".com")).find("63"),
            std::string::npos);
  EXPECT_TRUE(parse_domain_pattern(std::string(63, 'a') + ".com"));
}

TEST(EgressDomain, NameLengthLimitIs253) {
  std::string label(63, 'a');
  std::string name = label + "." + label + "." + label + "." + std::string(61, 'b');  // 253
  ASSERT_EQ(name.size(), 253u);
  EXPECT_TRUE(parse_domain_pattern(name));
  EXPECT_TRUE(parse_domain_pattern(name + ".")) << "trailing dot does not count";
  EXPECT_NE(error_of(parse_domain_pattern(name + "b")).find("253"), std::string::npos);
}

TEST(EgressDomain, WildcardOnlyAsWholeLeftmostLabel) {
  EXPECT_TRUE(parse_domain_pattern("*.example.com"));
  for (auto bad : {"a*.example.com", "*a.example.com", "a.*.example.com", "example.*",
                   "**.example.com", "*.*.example.com", "*", "*."}) {
    auto r = parse_domain_pattern(bad);
    EXPECT_FALSE(r) << bad;
  }
  EXPECT_NE(error_of(parse_domain_pattern("a.*.com")).find("leftmost"), std::string::npos);
}

TEST(EgressDomain, WildcardDirectlyUnderATopLevelDomainIsRejected) {
  auto r = parse_domain_pattern("*.com");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("top-level"), std::string::npos);
}

TEST(EgressDomain, PatternIsNormalized) {
  auto r = parse_domain_pattern("*.CDN.Example.COM.");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->wildcard);
  EXPECT_EQ(r->name, "cdn.example.com");
  EXPECT_EQ(r->to_string(), "*.cdn.example.com");
}

TEST(EgressDomain, FlagErrorsNameTheFlag) {
  Policy p;
  auto r = add_domain(p, "bad..name");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().operation, "--egress-domain");
  auto c = add_cidr(p, "203.0.113.1/24");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().operation, "--egress-allow");
  EXPECT_NE(c.error().message().find("host bits"), std::string::npos);
  auto port = add_tcp_port(p, "0");
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().operation, "--egress-tcp-port");
}

TEST(EgressPolicy, CidrsAcceptBothFamiliesAndBareAddresses) {
  Policy p;
  ASSERT_TRUE(add_cidr(p, "203.0.113.0/24"));
  ASSERT_TRUE(add_cidr(p, "2001:db8::/32"));
  ASSERT_TRUE(add_cidr(p, "198.51.100.7"));
  ASSERT_TRUE(add_cidr(p, "2001:db8:113::10"));
  ASSERT_TRUE(add_cidr(p, "203.0.113.0/24")) << "duplicates are merged";
  ASSERT_EQ(p.allow.size(), 4u);
  EXPECT_EQ(p.allow[2].to_string(), "198.51.100.7/32");
  EXPECT_EQ(p.allow[3].to_string(), "2001:db8:113::10/128");
  EXPECT_FALSE(add_cidr(p, "example.com"));
  EXPECT_FALSE(add_cidr(p, "10.0.0.0/33"));
}

TEST(EgressPolicy, PortsAbsentMeansAnyEmptyMeansNone) {
  Policy p;
  EXPECT_TRUE(p.allows_tcp_port(22));
  EXPECT_FALSE(p.active());
  ASSERT_TRUE(add_tcp_port(p, "443"));
  EXPECT_TRUE(p.allows_tcp_port(443));
  EXPECT_FALSE(p.allows_tcp_port(80));
  EXPECT_TRUE(p.active());
  p.udp_ports.emplace();
  EXPECT_FALSE(p.allows_udp_port(53));
  for (auto bad : {"", "x", "65536", "-1", "80 ", "0x50"}) EXPECT_FALSE(parse_port(bad)) << bad;
  EXPECT_EQ(*parse_port("65535"), 65535);
}

TEST(EgressPolicy, DenyAllWithAllowEntriesIsAnError) {
  Policy p;
  p.deny_all = true;
  EXPECT_TRUE(validate(p));
  EXPECT_TRUE(p.active());
  ASSERT_TRUE(add_domain(p, "api.example.com"));
  auto r = validate(p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("deny_all"), std::string::npos);
}

TEST(EgressPolicyToml, FullPolicyLoads) {
  auto r = parse_policy_toml(R"(
allow = ["203.0.113.0/24", "2001:db8::/32"]
domains = ["api.example.com", "*.cdn.example.com"]
tcp_ports = [443, 80]
udp_ports = []
deny_all = false
)");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->allow.size(), 2u);
  ASSERT_EQ(r->domains.size(), 2u);
  EXPECT_TRUE(r->matches("x.cdn.example.com"));
  EXPECT_TRUE(r->matches("API.example.com."));
  EXPECT_EQ(r->tcp_ports, (std::vector<uint16_t>{443, 80}));
  ASSERT_TRUE(r->udp_ports);
  EXPECT_TRUE(r->udp_ports->empty());
  EXPECT_FALSE(r->deny_all);
}

TEST(EgressPolicyToml, EmptyFileIsAnInactivePolicy) {
  auto r = parse_policy_toml("");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(r->active());
}

std::string toml_error(std::string_view text) {
  auto r = parse_policy_toml(text, "policy.toml");
  return r ? std::string("<ok>") : r.error().message();
}

TEST(EgressPolicyToml, ErrorsNameTheKeyOrTheValue) {
  EXPECT_NE(toml_error("allowed = []").find("unknown key 'allowed'"), std::string::npos);
  EXPECT_NE(toml_error("[egress]\nallow = []").find("unknown key 'egress'"), std::string::npos);
  EXPECT_NE(toml_error("allow = \"203.0.113.0/24\"").find("'allow' must be an array"),
            std::string::npos);
  EXPECT_NE(toml_error("allow = [1]").find("'allow' must be an array of strings"),
            std::string::npos);
  EXPECT_NE(toml_error("domains = [\"a..b\"]").find("empty label"), std::string::npos);
  EXPECT_NE(toml_error("domains = [\"a..b\"]").find("domains"), std::string::npos);
  EXPECT_NE(toml_error("allow = [\"300.1.1.1/8\"]").find("allow"), std::string::npos);
  EXPECT_NE(toml_error("tcp_ports = [0]").find("'tcp_ports'"), std::string::npos);
  EXPECT_NE(toml_error("tcp_ports = [70000]").find("1-65535"), std::string::npos);
  EXPECT_NE(toml_error("udp_ports = [\"53\"]").find("'udp_ports'"), std::string::npos);
  EXPECT_NE(toml_error("deny_all = 1").find("'deny_all'"), std::string::npos);
  EXPECT_NE(toml_error("deny_all = true\ndomains = [\"a.example.com\"]").find("deny_all"),
            std::string::npos);
  std::string syntax = toml_error("allow = [");
  EXPECT_NE(syntax.find("policy.toml"), std::string::npos) << syntax;
  EXPECT_NE(syntax.find("line"), std::string::npos) << syntax;
}

TEST(EgressPolicyToml, LoadsFromFileAndReportsMissingFile) {
  std::string path = ::testing::TempDir() + "/egress_policy_test.toml";
  {
    std::ofstream f(path);
    f << "domains = [\"allowed.test\"]\n";
  }
  auto r = load_policy_file(path);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->matches("allowed.test"));
  auto missing = load_policy_file(path + ".missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().operation, "--egress-policy");
  EXPECT_NE(missing.error().message().find(".missing"), std::string::npos);
}

}  // namespace
}  // namespace nucleus::egress
