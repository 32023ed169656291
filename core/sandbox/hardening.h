// HardeningPlan: the security steps the child applies last, right before exec.
//
// Built in the parent (may allocate); applied in the child with async-signal-safe calls only.
#pragma once

namespace nucleus {

struct HardeningPlan {
  bool no_new_privs = true;
};

// Child side: applies the plan. Returns 0 or -errno and sets *step to a static description.
int apply_hardening(const HardeningPlan& plan, const char** step) noexcept;

}  // namespace nucleus
