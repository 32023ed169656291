#include "core/sandbox/hardening.h"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "core/security/seccomp_cache.h"
#include "core/spec/spec.h"

namespace nucleus {

Result<void> build_hardening_plan(const ValidSpec& spec, HardeningPlan& plan) {
  plan.change_user = spec.uid != 0 || spec.gid != 0;
  plan.uid = spec.uid;
  plan.gid = spec.gid;
  plan.drop_supplementary_groups = !spec.rootless;
  ASSIGN_OR_RETURN(plan.caps, security::prepare_caps(spec.caps_policy));
  int abi = security::landlock_abi_version();
  if (abi < spec.landlock_min_abi)
    return fail("Landlock", "this kernel offers ABI " + std::to_string(abi) + ", " +
                                std::string(spec.mode == ServiceMode::kProduction ? "production"
                                                                                   : "strict-agent") +
                                " mode needs at least " + std::to_string(spec.landlock_min_abi));
  ASSIGN_OR_RETURN(plan.landlock, security::prepare_landlock(spec.landlock, abi));
  plan.landlock_required = spec.landlock_min_abi > 0;
  ASSIGN_OR_RETURN(plan.seccomp,
                   security::build_seccomp_cached(spec.seccomp, spec.state_root + "/cache"));
  plan.seccomp_required = !spec.allow_degraded_security;
  return {};
}

namespace {

// Switches to the workload's uid/gid without losing the capabilities we still need to drop the
// bounding set: KEEPCAPS keeps the permitted set over setresuid, then effective is raised again
// from permitted (allowed: effective may always grow up to permitted).
int switch_user(const HardeningPlan& plan) noexcept {
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return -errno;
  if (plan.drop_supplementary_groups && setgroups(0, nullptr) != 0) return -errno;
  if (setresgid(plan.gid, plan.gid, plan.gid) != 0) return -errno;
  if (setresuid(plan.uid, plan.uid, plan.uid) != 0) return -errno;
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return -errno;
  data[0].effective = data[0].permitted;
  data[1].effective = data[1].permitted;
  if (syscall(SYS_capset, &header, data) != 0) return -errno;
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return -errno;
  return 0;
}

}  // namespace

int apply_hardening(const HardeningPlan& plan, const char** step, const char** warning) noexcept {
#ifdef NUCLEUS_BENCH_UNHARDENED
  (void)plan, (void)step, (void)warning;
  return 0;  // benchmark build only: measures the cost of everything below
#endif
  if (plan.change_user) {
    *step = "switch to --user/--group";
    if (int r = switch_user(plan); r != 0) return r;
  }
  *step = "drop capabilities";
  if (int r = security::apply_caps(plan.caps); r != 0) return r;
  *step = "no_new_privs";
  if (int r = security::set_no_new_privs(); r != 0) return r;
  *step = "Landlock";
  if (int r = security::apply_landlock(plan.landlock); r != 0) {
    if (plan.landlock_required) return r;
    *warning = "Landlock is not available on this kernel; running without it (agent mode)";
  }
  *step = "seccomp";
  int r = security::install_seccomp(plan.seccomp);
  if (r < 0) {
    if (plan.seccomp_required) return r;
    *warning = "seccomp could not be installed; running degraded (--allow-degraded-security)";
  }
  return 0;
}

}  // namespace nucleus
