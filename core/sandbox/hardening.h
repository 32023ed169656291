// HardeningPlan: the identity and security steps the child applies last, right before exec.
//
// Built in the parent (build_hardening_plan may allocate and call libseccomp); applied in the
// child by apply_hardening with async-signal-safe calls only. Order in the child:
//   user switch (keeping caps) -> capabilities -> no_new_privs -> Landlock -> seccomp.
#pragma once

#include <sys/types.h>

#include "core/base/result.h"
#include "core/security/caps.h"
#include "core/security/landlock.h"
#include "core/security/seccomp.h"

namespace nucleus {

struct ValidSpec;

struct HardeningPlan {
  bool change_user = false;
  bool drop_supplementary_groups = true;  // false in a user namespace with setgroups denied
  uid_t uid = 0;
  gid_t gid = 0;
  security::CapsPlan caps;
  security::LandlockPlan landlock;
  bool landlock_required = false;  // strict modes: a Landlock failure is fatal
  security::SeccompProgram seccomp;
  bool seccomp_required = true;    // false only with --allow-degraded-security
};

// Parent side.
[[nodiscard]] Result<void> build_hardening_plan(const ValidSpec& spec, HardeningPlan& plan);

// Child side: applies the plan. Returns 0 or -errno and sets *step to a static description.
// A non-fatal failure (best-effort Landlock, degraded seccomp) sets *warning and continues.
int apply_hardening(const HardeningPlan& plan, const char** step, const char** warning) noexcept;

}  // namespace nucleus
