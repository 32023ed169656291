// libFuzzer target for Landlock policies (--landlock-policy FILE, TOML). A policy that parses is
// also turned into the child's fixed-size plan for every ABI (pure: nothing is applied).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/security/landlock.h"
#include "tests/fuzz/fuzz_util.h"

using namespace nucleus::security;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto policy = parse_landlock_policy(nucleus::fuzz::as_text(data, size));
  if (!policy) return 0;
  for (const auto& p : policy->paths)
    FUZZ_CHECK(!p.path.empty() && p.path.front() == '/' && p.path.size() < kLandlockPathMax);

  for (int abi = 0; abi <= 7; ++abi) {
    LandlockOptions options;
    options.workspace = abi % 3 == 0 ? WorkspaceAccess::kNone
                        : abi % 3 == 1 ? WorkspaceAccess::kReadOnly
                                       : WorkspaceAccess::kReadWrite;
    options.policy = *policy;
    auto plan = prepare_landlock(options, abi);
    if (!plan) continue;
    FUZZ_CHECK(plan->rule_count <= kLandlockMaxRules);
    for (size_t i = 0; i < plan->rule_count; ++i) {
      const auto& rule = plan->rules[i];
      FUZZ_CHECK(memchr(rule.path.data(), '\0', rule.path.size()) != nullptr);
      FUZZ_CHECK((rule.access & ~plan->handled_fs) == 0);
    }
  }
  return 0;
}
