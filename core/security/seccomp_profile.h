// Seccomp profiles in a subset of the OCI runtime-spec format (linux.seccomp), plus the trace log
// that `--seccomp-mode trace` writes and `nucleus seccomp generate` turns into a profile.
//
// Accepted profile (JSON):
//   {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,        // optional errno, EPERM
//    "architectures": ["SCMP_ARCH_X86_64"],                          // ignored: native only
//    "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
//                 {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
// Actions: SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL(_THREAD), SCMP_ACT_KILL_PROCESS,
// SCMP_ACT_TRAP. The default action may not be ALLOW (a profile must be an allowlist).
// "args" are only accepted on syscalls nucleus filters by argument itself (clone, socket, ioctl,
// personality): nucleus's own argument rules apply to them. Entries with non-empty Docker-style
// "includes"/"excludes" are skipped (that can only allow less) and reported as warnings, and so
// are names nucleus never allows (unshare, mount, bpf...): they stay EPERM.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"

namespace nucleus::security {

enum class SeccompAction { kAllow, kErrno, kKillProcess, kKillThread, kTrap };

struct SeccompRule {
  std::vector<std::string> names;
  SeccompAction action = SeccompAction::kAllow;
  int errno_ret = 1;  // EPERM; used by kErrno
};

struct SeccompProfile {
  SeccompAction default_action = SeccompAction::kKillProcess;
  int default_errno = 1;
  std::vector<SeccompRule> rules;
  std::vector<std::string> warnings;  // entries skipped, for the caller to log once
};

[[nodiscard]] Result<SeccompProfile> parse_seccomp_profile(std::string_view json_text);
// Reads FILE (optional sha256 pin) and parses it.
[[nodiscard]] Result<SeccompProfile> load_seccomp_profile(const std::string& path,
                                                          std::optional<std::string_view> sha256);

// Trace log: "# nucleus seccomp trace v1" then one syscall name per line, sorted, unique.
[[nodiscard]] std::string format_trace_log(const std::vector<std::string>& names);
[[nodiscard]] Result<std::vector<std::string>> parse_trace_log(std::string_view text);

// The profile `nucleus seccomp generate TRACE -o PROFILE` writes: default ERRNO(EPERM) (a
// trace rarely covers every path, and EPERM fails more gracefully than a kill), the traced
// names allowed, plus execve/exit_group which the runtime itself needs around the workload.
[[nodiscard]] std::string generate_seccomp_profile(const std::vector<std::string>& traced);

}  // namespace nucleus::security
