// libFuzzer target for IP addresses and CIDR prefixes (--ip, --dns, --subnet, --subnet6,
// --egress-allow, policy files): parse, and check that what parses round-trips through
// to_string() and behaves like a prefix.
#include <cstddef>
#include <cstdint>

#include "net/ip.h"
#include "tests/fuzz/fuzz_util.h"

using nucleus::net::Cidr;
using nucleus::net::IpAddress;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = nucleus::fuzz::as_text(data, size);

  if (auto ip = IpAddress::parse(text)) {
    FUZZ_CHECK(ip->family == AF_INET || ip->family == AF_INET6);
    auto again = IpAddress::parse(ip->to_string());
    FUZZ_CHECK(again && *again == *ip);
  }

  if (auto cidr = Cidr::parse(text)) {
    FUZZ_CHECK(cidr->prefix >= 0 && cidr->prefix <= (cidr->address.is_v4() ? 32 : 128));
    auto again = Cidr::parse(cidr->to_string());
    FUZZ_CHECK(again && *again == *cidr);
    FUZZ_CHECK(cidr->contains(cidr->address));
    FUZZ_CHECK(cidr->size() >= 1);
    auto first = cidr->nth(0);
    FUZZ_CHECK(first && *first == cidr->address);
    auto last = cidr->nth(cidr->size() - 1);
    FUZZ_CHECK(last && cidr->contains(*last));
    if (cidr->size() < (uint64_t{1} << 63)) FUZZ_CHECK(!cidr->nth(cidr->size()));
  }
  return 0;
}
