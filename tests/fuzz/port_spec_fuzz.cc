// libFuzzer target for published-port specs (-p/--publish). One spec per input line; every line
// is parsed alone and then all of them together (the overlap check).
#include <cstddef>
#include <cstdint>

#include "net/port_spec.h"
#include "tests/fuzz/fuzz_util.h"

using namespace nucleus::net;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto specs = nucleus::fuzz::lines(nucleus::fuzz::as_text(data, size));
  for (const auto& spec : specs) {
    auto mappings = parse_port_spec(spec);
    if (!mappings) continue;
    FUZZ_CHECK(!mappings->empty() && mappings->size() <= 65535);
    for (const auto& m : *mappings) {
      FUZZ_CHECK(m.host_port >= 1 && m.container_port >= 1);
      FUZZ_CHECK(overlaps(m, m));
      // Rebuild the flag value for this single mapping: it must parse back to exactly it.
      std::string one;
      if (m.host_ip)
        one = m.host_ip->is_v4() ? m.host_ip->to_string() + ":"
                                 : "[" + m.host_ip->to_string() + "]:";
      one += std::to_string(m.host_port) + ":" + std::to_string(m.container_port);
      one += m.protocol == Protocol::kTcp ? "/tcp" : "/udp";
      auto back = parse_port_spec(one);
      FUZZ_CHECK(back && back->size() == 1);
      FUZZ_CHECK(back->front().host_ip == m.host_ip && back->front().host_port == m.host_port &&
                 back->front().container_port == m.container_port &&
                 back->front().protocol == m.protocol);
      (void)to_string(m);
    }
  }
  if (auto all = parse_port_specs(specs)) {
    for (size_t i = 0; i < all->size(); ++i)
      for (size_t j = i + 1; j < all->size() && j < i + 64; ++j)
        FUZZ_CHECK(!overlaps((*all)[i], (*all)[j]));
  }
  return 0;
}
