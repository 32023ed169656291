// Seccomp: the syscall filter installed last before the workload's execve.
//
// Split by phase (the child runs between clone3 and execve, async-signal-safe code only):
//   parent side: `build_seccomp(options)` uses libseccomp to compile the policy for the native
//     architecture and exports the BPF into a `SeccompProgram` (a vector the parent owns; the
//     child only reads it);
//   child side: `install_seccomp(program)` is one seccomp(2) call. It needs no_new_privs (call
//     set_no_new_privs() first) and must be the last step before execve.
//
// The enforce policy (details and lists in seccomp_tables.h):
//  * default SECCOMP_RET_KILL_PROCESS for anything unknown; well-known dangerous calls EPERM;
//  * clone3 -> ENOSYS, so libc falls back to clone, whose flags seccomp can see; clone with
//    any CLONE_NEW* flag -> EPERM;
//  * socket/socketpair: AF_UNIX only with network "none", AF_UNIX/AF_INET/AF_INET6 otherwise;
//    every other family (AF_NETLINK, AF_PACKET, AF_VSOCK...) -> EAFNOSUPPORT (not a kill:
//    glibc's getaddrinfo probes netlink and must survive);
//  * ioctl TIOCSTI/TIOCLINUX -> EPERM (terminal injection into the parent's tty);
//  * personality only PER_LINUX and the query 0xffffffff unless opted in;
//  * only the native ABI: i386 (int 0x80) and x32 (__X32_SYSCALL_BIT) syscalls are killed.
//
// Trace mode (--seccomp-mode trace): instead of enforcing the allowlist, every syscall that the
// enforce policy would not deny outright is sent to a user-notification listener
// (SECCOMP_FILTER_FLAG_NEW_LISTENER + SECCOMP_RET_USER_NOTIF). The supervisor drives a
// `SeccompTracer` (seccomp_trace.h) that records the syscall and answers
// SECCOMP_USER_NOTIF_FLAG_CONTINUE. This needs neither ptrace nor /dev/kmsg (SECCOMP_RET_LOG).
// The denied set, clone3/clone-flag and socket-family rules stay in force while tracing.
#pragma once

#include <linux/filter.h>

#include <optional>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "core/security/seccomp_profile.h"

namespace nucleus::security {

enum class SeccompMode { kEnforce, kTrace };

struct SeccompOptions {
  SeccompMode mode = SeccompMode::kEnforce;
  bool network = false;                  // false: network mode "none" (AF_UNIX only)
  std::vector<std::string> extra_allow;  // --seccomp-allow, each must be in the opt-in list
  std::optional<SeccompProfile> profile; // --seccomp-profile replaces the built-in allowlist
};

// The compiled filter. Plain data for the child: it only reads `filter` and `listener`.
struct SeccompProgram {
  std::vector<sock_filter> filter;
  bool listener = false;  // trace mode: install with SECCOMP_FILTER_FLAG_NEW_LISTENER
};

// Checks --seccomp-allow names: each must be in the opt-in list (never a denied one).
[[nodiscard]] Result<void> validate_seccomp_allow(const std::vector<std::string>& names);

// Parent side: compiles the policy. Fails on invalid options; never touches the calling process.
[[nodiscard]] Result<SeccompProgram> build_seccomp(const SeccompOptions& options);

// Child side, async-signal-safe: installs the program on the calling thread. Returns -errno on
// failure; on success 0, or in trace mode the listener fd (CLOEXEC, so execve closes it in the
// child; the supervisor takes its own copy with SeccompTracer::attach).
int install_seccomp(const SeccompProgram& program) noexcept;

}  // namespace nucleus::security
