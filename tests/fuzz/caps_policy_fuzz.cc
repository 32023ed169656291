// libFuzzer target for capability policies (--caps-policy FILE, TOML) and capability names.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "core/security/caps.h"
#include "tests/fuzz/fuzz_util.h"

using namespace nucleus::security;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = nucleus::fuzz::as_text(data, size);

  if (auto cap = capability_from_name(text)) {
    std::string name = capability_name(*cap);
    FUZZ_CHECK(!name.empty());
    FUZZ_CHECK(capability_from_name(name) == cap);
  }

  auto policy = parse_caps_policy(text);
  if (!policy) return 0;
  FUZZ_CHECK(std::is_sorted(policy->keep.begin(), policy->keep.end()));
  for (int cap : policy->keep) FUZZ_CHECK(cap >= 0 && cap < 64 && !capability_name(cap).empty());
  // prepare_caps only reads /proc/sys/kernel/cap_last_cap.
  if (auto plan = prepare_caps(*policy)) {
    for (int cap : policy->keep)
      if (cap <= plan->last_cap) FUZZ_CHECK(plan->keep_mask & (uint64_t{1} << cap));
  }
  return 0;
}
