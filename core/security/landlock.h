// Landlock: filesystem access control the workload cannot undo, even as root in its namespace.
//
// Split by phase (the child runs between clone3 and execve, async-signal-safe code only):
//   parent side: `landlock_abi_version()` asks the kernel for its ABI, `prepare_landlock()` turns
//     defaults + workspace mode + volumes + an optional --landlock-policy into a `LandlockPlan`
//     (fixed-size arrays, no pointers) with every access right the running ABI cannot enforce
//     masked out;
//   child side: `apply_landlock(plan)` runs after pivot_root (paths are in-sandbox paths) and
//     after set_no_new_privs: open each path O_PATH (missing ones are skipped: less access, never
//     more), add the rule, restrict_self. Raw syscalls only; returns 0 or -errno.
//
// ABI notes: v1 files/dirs, v2 REFER (rename/link across dirs), v3 TRUNCATE, v4 TCP bind/connect
// (not used: the network namespace and egress policy govern the network), v5 IOCTL_DEV, v6 scopes
// (abstract unix sockets and signals stay inside the sandbox). `LandlockPlan::abi` is what strict
// and production modes check (they require abi >= 3, i.e. truncation is enforced too).
//
// Policy file (--landlock-policy FILE, TOML, optional sha256 pin):
//   version = 1
//   replace_defaults = false   # true: only the paths below (plus workspace and volumes)
//   ro  = ["/data"]            # read files, list dirs
//   rx  = ["/opt/tool"]        # + execute
//   rw  = ["/scratch"]         # + create, write, remove, rename, truncate (no execute)
//   rwx = ["/build"]           # rw + execute
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"

namespace nucleus::security {

inline constexpr std::size_t kLandlockMaxRules = 64;
inline constexpr std::size_t kLandlockPathMax = 256;

enum class LandlockAccess { kRead, kReadExec, kReadWrite, kReadWriteExec, kDevice };

struct LandlockPath {
  std::string path;  // absolute, in-sandbox
  LandlockAccess access = LandlockAccess::kRead;
};

struct LandlockPolicy {
  bool replace_defaults = false;
  std::vector<LandlockPath> paths;
};

enum class WorkspaceAccess { kNone, kReadOnly, kReadWrite };

struct LandlockOptions {
  WorkspaceAccess workspace = WorkspaceAccess::kReadWrite;
  std::string workspace_path = "/workspace";
  std::vector<LandlockPath> volumes;    // in-sandbox mount points with their access
  std::optional<LandlockPolicy> policy; // --landlock-policy
};

struct LandlockRule {
  std::array<char, kLandlockPathMax> path{};  // NUL-terminated
  std::uint64_t access = 0;                   // LANDLOCK_ACCESS_FS_* bits, already ABI-masked
};

// Plain data for the child.
struct LandlockPlan {
  int abi = 0;                 // 0: Landlock unavailable; apply_landlock returns -EOPNOTSUPP
  std::uint64_t handled_fs = 0;
  std::uint64_t scoped = 0;    // LANDLOCK_SCOPE_* (ABI >= 6)
  std::array<LandlockRule, kLandlockMaxRules> rules{};
  std::size_t rule_count = 0;
};

// The kernel's Landlock ABI version; 0 when Landlock is compiled out or disabled at boot.
[[nodiscard]] int landlock_abi_version() noexcept;

// Filesystem rights Landlock can handle at `abi` (0 for abi 0).
[[nodiscard]] std::uint64_t landlock_handled_fs(int abi) noexcept;
// The LANDLOCK_ACCESS_FS_* bits one access level means (before ABI masking).
[[nodiscard]] std::uint64_t landlock_access_bits(LandlockAccess access) noexcept;

// Built-in rules: system dirs readable/executable, /tmp /home /root /dev/shm writable, devices.
[[nodiscard]] std::vector<LandlockPath> landlock_default_paths();

[[nodiscard]] Result<LandlockPolicy> parse_landlock_policy(std::string_view toml_text);
[[nodiscard]] Result<LandlockPolicy> load_landlock_policy(const std::string& path,
                                                          std::optional<std::string_view> sha256);

// Parent side. `abi` is normally landlock_abi_version(); a plan for abi 0 has no rules.
// Duplicate paths are merged (union of rights).
[[nodiscard]] Result<LandlockPlan> prepare_landlock(const LandlockOptions& options, int abi);

// Child side, async-signal-safe. Requires no_new_privs (or CAP_SYS_ADMIN).
int apply_landlock(const LandlockPlan& plan) noexcept;

}  // namespace nucleus::security
