#include "core/sandbox/hardening.h"

#include <sys/prctl.h>

#include <cerrno>

namespace nucleus {

int apply_hardening(const HardeningPlan& plan, const char** step) noexcept {
  if (plan.no_new_privs) {
    *step = "no_new_privs";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
  }
  return 0;
}

}  // namespace nucleus
