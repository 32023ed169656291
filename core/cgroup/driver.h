// Internal to core/cgroup: what the v1 and v2 drivers share.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/cgroup/cgroup.h"

namespace nucleus::cgroup::detail {

// Writes a control file. With a fake tree the file is created; on cgroupfs it must exist.
[[nodiscard]] Result<void> write_control(const Config& config, const std::string& dir,
                                         std::string_view file, std::string_view value);
// Same, but a control file the kernel may not offer (memsw without swap accounting, swap.max
// without swap) is skipped on a real tree.
[[nodiscard]] Result<void> write_optional(const Config& config, const std::string& dir,
                                          std::string_view file, std::string_view value);
// "key value" lines (memory.events, memory.oom_control): the value of `key`, 0 if absent.
[[nodiscard]] std::uint64_t flat_keyed_value(std::string_view text, std::string_view key);

[[nodiscard]] std::string join(std::string_view a, std::string_view b);

// v1: one directory per hierarchy that carries a limit (pids always).
struct V1Dirs {
  std::optional<std::string> memory;  // with a memory limit
  std::optional<std::string> cpu;     // with a cpu limit or weight
  std::string pids;
  [[nodiscard]] std::vector<std::string> all() const;
};
[[nodiscard]] Result<V1Dirs> v1_dirs(const Config& config, std::string_view name,
                                     const Limits& limits);
[[nodiscard]] Result<void> v1_apply(const Config& config, const V1Dirs& dirs,
                                    const Limits& limits);
// `memory_dir` is V1Dirs::memory, empty without a memory limit (then: false).
[[nodiscard]] Result<bool> v1_oom_killed(const std::string& memory_dir);

// v2: one directory.
[[nodiscard]] std::string v2_path(const Config& config, std::string_view name);
// Enables memory/cpu/pids for the children of every level from the root down to the parent.
[[nodiscard]] Result<void> v2_enable_controllers(const Config& config);
[[nodiscard]] Result<void> v2_apply(const Config& config, const std::string& path,
                                    const Limits& limits);
[[nodiscard]] Result<bool> v2_oom_killed(const std::string& path);

}  // namespace nucleus::cgroup::detail
