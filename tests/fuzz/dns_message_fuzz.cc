// libFuzzer target for everything the DNS proxy parses from untrusted peers: queries from the
// workload (parse_query) and answers from upstream (inspect_answer, extract_addresses), plus the
// transformations applied to them (error responses, UDP truncation, TTL ageing, cache lookup).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "egress/dns_cache.h"
#include "egress/dns_message.h"

using namespace nucleus::egress::dns;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);
  if (auto query = parse_query(input)) {
    auto refused = make_error_response(input, query->question_end, Rcode::kRefused);
    if (!parse_query(refused) && !inspect_answer(refused)) __builtin_trap();
    AnswerCache cache(4);
    (void)cache.lookup(*query, input, Clock::now());
    (void)cache_key(*query);
  }
  (void)make_error_response(input, 0, Rcode::kFormErr);
  if (auto info = inspect_answer(input)) {
    std::vector<uint8_t> copy(input.begin(), input.end());
    age_ttls(copy, info->ttl_offsets, 7);
    auto fitted = fit_udp(copy, info->question_end, 512);
    if (fitted.size() > 512 && fitted.size() != copy.size()) __builtin_trap();
  }
  (void)extract_addresses(input);
  return 0;
}
