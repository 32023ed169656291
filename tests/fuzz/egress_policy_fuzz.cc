// libFuzzer target for egress policy files (--egress-policy FILE, TOML).
#include <cstddef>
#include <cstdint>

#include "egress/policy.h"
#include "tests/fuzz/fuzz_util.h"

using namespace nucleus::egress;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto policy = parse_policy_toml(nucleus::fuzz::as_text(data, size), "fuzz.toml");
  if (!policy) {
    FUZZ_CHECK(!policy.error().message().empty());
    return 0;
  }
  FUZZ_CHECK(validate(*policy).has_value());
  if (policy->deny_all) FUZZ_CHECK(policy->active() && policy->allow.empty() && policy->domains.empty());
  for (const auto& d : policy->domains) {
    FUZZ_CHECK(policy->matches(d.wildcard ? "x." + d.name : d.name));
    auto again = parse_domain_pattern(d.to_string());
    FUZZ_CHECK(again && *again == d);
  }
  for (const auto& c : policy->allow) FUZZ_CHECK(c.contains(c.address));
  if (policy->tcp_ports)
    for (uint16_t p : *policy->tcp_ports) FUZZ_CHECK(p >= 1 && policy->allows_tcp_port(p));
  if (policy->udp_ports)
    for (uint16_t p : *policy->udp_ports) FUZZ_CHECK(p >= 1 && policy->allows_udp_port(p));
  (void)policy->matches("example.com");
  return 0;
}
