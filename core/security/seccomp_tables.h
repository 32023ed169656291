// The syscall lists behind the built-in seccomp policy. Kept apart from the filter builder so the
// policy can be reviewed (and diffed) as data.
//
// Three sets:
//  * allowlist: what ordinary workloads (shells, interpreters, compilers, servers, databases)
//    use. Tighter than Docker's default: no NUMA, SysV message queues, POSIX mqueues, fanotify,
//    vmsplice, pkeys or personality changes unless opted in with --seccomp-allow.
//  * denied: well-known dangerous calls (namespaces, mounts, keyring, bpf, ptrace, modules,
//    kexec, io_uring, userfaultfd, clock setting...). They fail with EPERM instead of killing the
//    process, so tools probe and fall back cleanly ("unshare: Operation not permitted"), and they
//    can never be re-enabled: not by --seccomp-allow, not by a profile.
//  * opt-in: calls outside the allowlist that --seccomp-allow NAME may add.
// Everything else hits the default action, SECCOMP_RET_KILL_PROCESS: an unknown syscall is far
// more likely an exploit (or a new kernel attack surface) than a workload need.
#pragma once

#include <span>
#include <string_view>

namespace nucleus::security {

[[nodiscard]] std::span<const std::string_view> seccomp_default_allowlist();
[[nodiscard]] std::span<const std::string_view> seccomp_denied_syscalls();
[[nodiscard]] std::span<const std::string_view> seccomp_opt_in_syscalls();

// Syscalls whose arguments nucleus always filters itself (clone flags, socket families, ioctl
// TIOCSTI, personality values); a profile naming them gets nucleus's argument rules.
[[nodiscard]] std::span<const std::string_view> seccomp_argument_filtered();

[[nodiscard]] bool seccomp_is_denied(std::string_view name);
[[nodiscard]] bool seccomp_is_opt_in(std::string_view name);

}  // namespace nucleus::security
