// libFuzzer target for egress domain names and the other flag-style egress values
// (--egress-domain, --egress-allow, --egress-tcp-port). First line: the pattern/value; the other
// lines: DNS names matched against it (what the DNS proxy sees from the workload).
#include <cstddef>
#include <cstdint>

#include "egress/policy.h"
#include "tests/fuzz/fuzz_util.h"

using namespace nucleus::egress;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto fields = nucleus::fuzz::lines(nucleus::fuzz::as_text(data, size));
  const std::string& first = fields.front();

  if (auto host = validate_hostname(first)) {
    FUZZ_CHECK(!host->empty() && host->size() <= 253);
    FUZZ_CHECK(normalize_name(*host) == *host);
    auto again = validate_hostname(*host);
    FUZZ_CHECK(again && *again == *host);
  }

  auto pattern = parse_domain_pattern(first);
  if (pattern) {
    auto again = parse_domain_pattern(pattern->to_string());
    FUZZ_CHECK(again && *again == *pattern);
    if (!pattern->wildcard) FUZZ_CHECK(pattern->matches(pattern->name));
    else FUZZ_CHECK(!pattern->matches(pattern->name) && pattern->matches("a." + pattern->name));
  }

  Policy policy;
  (void)add_domain(policy, first);
  (void)add_cidr(policy, first);
  (void)add_tcp_port(policy, first);
  (void)add_udp_port(policy, first);
  if (auto port = parse_port(first)) FUZZ_CHECK(*port >= 1);
  (void)validate(policy);
  (void)policy.active();

  for (size_t i = 1; i < fields.size(); ++i) {
    std::string name = normalize_name(fields[i]);
    bool hit = policy.matches(fields[i]);
    if (pattern) FUZZ_CHECK(hit == pattern->matches(name));
    // A wildcard matches exactly one extra label, never the apex or deeper names.
    if (pattern && pattern->wildcard && hit) {
      FUZZ_CHECK(name.size() > pattern->name.size() + 1);
      std::string_view label(name.data(), name.size() - pattern->name.size() - 1);
      FUZZ_CHECK(label.find('.') == std::string_view::npos);
    }
  }
  return 0;
}
