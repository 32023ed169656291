// cgroup v2 (unified hierarchy) driver.
#include <cmath>
#include <string>

#include "core/base/fs.h"
#include "core/cgroup/driver.h"

namespace nucleus::cgroup::detail {

std::string v2_path(const Config& config, std::string_view name) {
  return join(join(config.root, config.parent), name);
}

Result<void> v2_enable_controllers(const Config& config) {
  // Each level must delegate to the next: root -> parent components -> (our cgroup's parent).
  std::string dir = config.root;
  std::string_view rest = config.parent;
  for (;;) {
    auto r = write_control(config, dir, "cgroup.subtree_control", "+memory +cpu +pids");
    if (!r) {
      r.error().detail = "enabling controllers for children of " + dir +
                         " (a cgroup holding processes cannot delegate them)";
      return r;
    }
    while (rest.starts_with('/')) rest.remove_prefix(1);
    if (rest.empty()) return {};
    std::size_t slash = rest.find('/');
    dir = join(dir, rest.substr(0, slash));
    rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash);
  }
}

Result<void> v2_apply(const Config& config, const std::string& path, const Limits& limits) {
  if (limits.memory_bytes) {
    std::uint64_t max = *limits.memory_bytes;
    // memory.high throttles and reclaims before the hard limit kills: 90% of max.
    TRY(write_control(config, path, "memory.high", std::to_string(max / 10 * 9)));
    TRY(write_control(config, path, "memory.max", std::to_string(max)));
    TRY(write_optional(config, path, "memory.swap.max", "0"));
  }
  // One OOM kill takes the whole sandbox: a half-killed workload is worse than a dead one.
  TRY(write_optional(config, path, "memory.oom.group", "1"));
  if (limits.cpus) {
    constexpr std::uint64_t kPeriod = 100000;
    auto quota = static_cast<std::uint64_t>(std::llround(*limits.cpus * kPeriod));
    TRY(write_control(config, path, "cpu.max",
                      std::to_string(quota) + " " + std::to_string(kPeriod)));
  }
  if (limits.cpu_weight) {
    TRY(write_control(config, path, "cpu.weight", std::to_string(*limits.cpu_weight)));
  }
  TRY(write_control(config, path, "pids.max", std::to_string(limits.pids)));
  return {};
}

Result<bool> v2_oom_killed(const std::string& path) {
  ASSIGN_OR_RETURN(std::string events, fs::read_file(join(path, "memory.events")));
  return flat_keyed_value(events, "oom_kill") > 0 || flat_keyed_value(events, "oom_group_kill") > 0;
}

}  // namespace nucleus::cgroup::detail
