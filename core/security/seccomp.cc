#include "core/security/seccomp.h"

#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <set>

#include "core/base/unique_fd.h"
#include "core/security/seccomp_tables.h"

namespace nucleus::security {
namespace {

// Every namespace flag clone(2) accepts. CLONE_NEWTIME is only valid for clone3/unshare, but
// is listed so a future kernel accepting it in clone cannot open a hole.
constexpr std::uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
                                          CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                          CLONE_NEWNET | 0x00000080ULL /* CLONE_NEWTIME */;

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

std::uint32_t to_scmp(SeccompAction action, int errno_ret) {
  switch (action) {
    case SeccompAction::kAllow: return SCMP_ACT_ALLOW;
    case SeccompAction::kErrno: return SCMP_ACT_ERRNO(static_cast<std::uint32_t>(errno_ret));
    case SeccompAction::kKillThread: return SCMP_ACT_KILL_THREAD;
    case SeccompAction::kKillProcess: return SCMP_ACT_KILL_PROCESS;
    case SeccompAction::kTrap: return SCMP_ACT_TRAP;
  }
  return SCMP_ACT_KILL_PROCESS;
}

class Builder {
 public:
  Builder(scmp_filter_ctx ctx, std::uint32_t default_action)
      : ctx_(ctx), default_(default_action) {}

  // Adds one rule; names unknown on this architecture are skipped (the list is shared across
  // architectures, e.g. "open" does not exist on aarch64).
  Result<void> add(std::string_view name, std::uint32_t action,
                   std::initializer_list<scmp_arg_cmp> args = {}) {
    if (action == default_) return {};  // libseccomp rejects rules equal to the default
    int nr = seccomp_syscall_resolve_name(std::string(name).c_str());
    if (nr < 0) return {};
    int rc = seccomp_rule_add_array(ctx_, action, nr, static_cast<unsigned>(args.size()),
                                    args.size() == 0 ? nullptr : args.begin());
    if (rc < 0) return make_error(-rc, "seccomp rule", std::string(name));
    return {};
  }

 private:
  scmp_filter_ctx ctx_;
  std::uint32_t default_;
};

// Families allowed for socket(2); all others fail with EAFNOSUPPORT. Comparisons are on the
// full 64-bit register: a value with high bits set is above the largest family and denied.
Result<void> add_socket_rules(Builder& b, std::string_view name, std::set<int> allowed,
                              bool add_allow) {
  const std::uint32_t deny = SCMP_ACT_ERRNO(EAFNOSUPPORT);
  int max_allowed = *allowed.rbegin();
  for (int family = 0; family <= max_allowed; ++family) {
    bool ok = allowed.contains(family);
    if (ok && !add_allow) continue;
    TRY(b.add(name, ok ? SCMP_ACT_ALLOW : deny,
              {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(family))}));
  }
  TRY(b.add(name, deny, {SCMP_A0(SCMP_CMP_GT, static_cast<scmp_datum_t>(max_allowed))}));
  return {};
}

// Rules for syscalls nucleus filters by argument. `add_allow` is false in trace mode, where the
// "allowed" branch is the (notifying) default action.
Result<void> add_argument_rules(Builder& b, const std::set<std::string>& allow, bool network,
                                bool add_allow) {
  const std::uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  // clone3 passes flags in memory where seccomp cannot look: ENOSYS makes libc use clone.
  TRY(b.add("clone3", SCMP_ACT_ERRNO(ENOSYS)));
  if (allow.contains("clone") || !add_allow) {
    if (add_allow) TRY(b.add("clone", SCMP_ACT_ALLOW, {SCMP_A0(SCMP_CMP_MASKED_EQ, kNamespaceFlags, 0)}));
    for (std::uint64_t bit = 1; bit != 0; bit <<= 1) {
      if ((kNamespaceFlags & bit) == 0) continue;
      TRY(b.add("clone", eperm, {SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit)}));
    }
  }
  if (allow.contains("socket") || !add_allow) {
    std::set<int> families = {AF_UNIX};
    if (network) families.insert({AF_INET, AF_INET6});
    TRY(add_socket_rules(b, "socket", families, add_allow));
  }
  if (allow.contains("socketpair") || !add_allow) {
    TRY(add_socket_rules(b, "socketpair", {AF_UNIX}, add_allow));
  }
  if (allow.contains("ioctl") || !add_allow) {
    // The request is an unsigned int: compare the low 32 bits only.
    if (add_allow) TRY(b.add("ioctl", SCMP_ACT_ALLOW, {SCMP_A1_32(SCMP_CMP_NE, TIOCSTI)}));
    TRY(b.add("ioctl", eperm, {SCMP_A1_32(SCMP_CMP_EQ, TIOCSTI)}));
  }
  if (allow.contains("personality") && add_allow) {
    TRY(b.add("personality", SCMP_ACT_ALLOW, {SCMP_A0_32(SCMP_CMP_EQ, 0)}));
    TRY(b.add("personality", SCMP_ACT_ALLOW, {SCMP_A0_32(SCMP_CMP_EQ, 0xffffffffU)}));
  }
  return {};
}

bool argument_filtered(std::string_view name) {
  auto list = seccomp_argument_filtered();
  return std::find(list.begin(), list.end(), name) != list.end();
}

Result<std::vector<sock_filter>> export_bpf(scmp_filter_ctx ctx) {
  int raw = static_cast<int>(::syscall(SYS_memfd_create, "nucleus-seccomp", MFD_CLOEXEC));
  if (raw < 0) return errno_error("memfd_create", "seccomp export");
  UniqueFd fd(raw);
  if (int rc = seccomp_export_bpf(ctx, fd.get()); rc < 0) {
    return make_error(-rc, "seccomp_export_bpf");
  }
  off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size < 0 || ::lseek(fd.get(), 0, SEEK_SET) != 0) return errno_error("lseek", "seccomp");
  if (size == 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0) {
    return fail("seccomp_export_bpf", "unexpected program size");
  }
  std::vector<sock_filter> program(static_cast<std::size_t>(size) / sizeof(sock_filter));
  auto* out = reinterpret_cast<char*>(program.data());
  std::size_t done = 0;
  while (done < static_cast<std::size_t>(size)) {
    ssize_t n = ::read(fd.get(), out + done, static_cast<std::size_t>(size) - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_error("read", "seccomp program");
    done += static_cast<std::size_t>(n);
  }
  if (program.size() > BPF_MAXINSNS) return fail("seccomp", "filter exceeds BPF_MAXINSNS");
  return program;
}

}  // namespace

Result<void> validate_seccomp_allow(const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (seccomp_is_denied(name)) {
      return fail("--seccomp-allow", "'" + name + "' is never allowed in a nucleus sandbox");
    }
    if (!seccomp_is_opt_in(name)) {
      return fail("--seccomp-allow", "'" + name + "' is not in the opt-in list");
    }
  }
  return {};
}

Result<SeccompProgram> build_seccomp(const SeccompOptions& options) {
  TRY(validate_seccomp_allow(options.extra_allow));
  const bool trace = options.mode == SeccompMode::kTrace;

  std::uint32_t default_action = SCMP_ACT_KILL_PROCESS;
  if (trace) {
    default_action = SCMP_ACT_NOTIFY;
  } else if (options.profile) {
    default_action = to_scmp(options.profile->default_action, options.profile->default_errno);
  }
  Ctx ctx(seccomp_init(default_action));
  if (!ctx) return fail("seccomp_init", "libseccomp refused the default action");
  // Foreign ABIs (i386 via int 0x80, x32) are "bad arch": only the native one is in the filter.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
      rc < 0) {
    return make_error(-rc, "seccomp_attr_set", "bad arch action");
  }
  // no_new_privs is set by the child explicitly (set_no_new_privs), not by libseccomp.
  (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  // Binary-tree dispatch: ~190 rules would otherwise be a linear scan on every syscall.
  (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);

  Builder b(ctx.get(), default_action);
  std::set<std::string> allow;
  if (!trace) {
    if (options.profile) {
      for (const auto& rule : options.profile->rules) {
        for (const auto& name : rule.names) {
          if (seccomp_is_denied(name) || name == "clone3") continue;
          if (rule.action == SeccompAction::kAllow) {
            allow.insert(name);
          } else if (!argument_filtered(name)) {
            TRY(b.add(name, to_scmp(rule.action, rule.errno_ret)));
          }
        }
      }
    } else {
      for (auto name : seccomp_default_allowlist()) allow.emplace(name);
    }
    for (const auto& name : options.extra_allow) allow.insert(name);
    // personality from --seccomp-allow means every value.
    const bool any_personality = std::find(options.extra_allow.begin(), options.extra_allow.end(),
                                           "personality") != options.extra_allow.end();
    for (const auto& name : allow) {
      if (argument_filtered(name) && !(name == "personality" && any_personality)) continue;
      TRY(b.add(name, SCMP_ACT_ALLOW));
    }
    if (any_personality) allow.erase("personality");
    // Opt-in calls that were not opted in fail with EPERM rather than killing: they are known
    // and harmless enough to offer, and tools such as procps probe them (set_mempolicy) and
    // cope with a refusal. Only calls we know nothing about kill the process.
    if (!options.profile)
      for (auto name : seccomp_opt_in_syscalls())
        if (!allow.contains(std::string(name))) TRY(b.add(name, SCMP_ACT_ERRNO(EPERM)));
  }
  for (auto name : seccomp_denied_syscalls()) TRY(b.add(name, SCMP_ACT_ERRNO(EPERM)));
  TRY(add_argument_rules(b, allow, options.network, /*add_allow=*/!trace));

  SeccompProgram program;
  ASSIGN_OR_RETURN(program.filter, export_bpf(ctx.get()));
  program.listener = trace;
  return program;
}

int install_seccomp(const SeccompProgram& program) noexcept {
  if (program.filter.empty()) return -EINVAL;
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(program.filter.size());
  // The kernel copies the program; it never writes through this pointer.
  prog.filter = const_cast<sock_filter*>(program.filter.data());
  unsigned int flags = program.listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
  long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (rc < 0) return -errno;
  return program.listener ? static_cast<int>(rc) : 0;
}

}  // namespace nucleus::security
