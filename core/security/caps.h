// Capabilities: what the workload keeps of root's powers (by default: nothing).
//
// Split by phase, because the child side runs between clone3 and execve where only
// async-signal-safe code is allowed:
//   parent side (before clone, may allocate): `prepare_caps()` reads the policy and the kernel's
//     /proc/sys/kernel/cap_last_cap and produces a plain `CapsPlan` (no pointers, no heap);
//   child side (after clone, raw syscalls only, noexcept, returns 0 or -errno):
//     `apply_caps(plan)` / `drop_all_capabilities()` and `set_no_new_privs()`.
//
// Order in the child: apply_caps -> set_no_new_privs -> landlock -> seccomp -> execve.
// Caps policy file (--caps-policy FILE, TOML), e.g.
//   keep = ["CAP_NET_BIND_SERVICE", "chown"]
// Names are case-insensitive with or without "CAP_". Capabilities that make a container escape
// trivial (SYS_ADMIN, SYS_MODULE, SYS_RAWIO, DAC_READ_SEARCH for open_by_handle_at, BPF, ...)
// are rejected by validation rather than silently dropped, so a policy never lies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"

namespace nucleus::security {

// Plain data handed to the child. keep_mask bit N = capability N stays in bounding, permitted,
// effective, inheritable and ambient sets (ambient so a non-root workload keeps it over execve).
struct CapsPlan {
  std::uint64_t keep_mask = 0;
  int last_cap = 63;  // from /proc/sys/kernel/cap_last_cap; 63 = "until the kernel says EINVAL"
};

struct CapsPolicy {
  std::vector<int> keep;  // capability numbers, sorted, unique
};

// Capability number for "CAP_CHOWN", "chown", "Net_Bind_Service"...; nullopt when unknown.
[[nodiscard]] std::optional<int> capability_from_name(std::string_view name);
// "CAP_CHOWN" for 0; empty for unknown numbers.
[[nodiscard]] std::string capability_name(int cap);

// Parses and validates a caps policy (TOML text). Errors name the offending entry.
[[nodiscard]] Result<CapsPolicy> parse_caps_policy(std::string_view toml_text);
// Reads FILE (with optional sha256 pin) and parses it.
[[nodiscard]] Result<CapsPolicy> load_caps_policy(const std::string& path,
                                                  std::optional<std::string_view> sha256);

// Parent side: the plan for `policy` (nullopt = drop everything) on the running kernel.
[[nodiscard]] Result<CapsPlan> prepare_caps(const std::optional<CapsPolicy>& policy);

// ---- child side: async-signal-safe, raw syscalls only, return 0 or -errno ----

// Clears the bounding set, ambient set, and inheritable/permitted/effective sets except the
// capabilities in plan.keep_mask. Needs CAP_SETPCAP (bounding set) so it must run before any
// other drop.
int apply_caps(const CapsPlan& plan) noexcept;
// apply_caps with an empty keep mask.
int drop_all_capabilities() noexcept;
// PR_SET_NO_NEW_PRIVS: execve can never grant privileges again (setuid bits, file caps); also
// what lets an unprivileged task install seccomp and Landlock.
int set_no_new_privs() noexcept;

}  // namespace nucleus::security
