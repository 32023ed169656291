// cgroup v1 (legacy hierarchies) driver: pids, and memory and cpu when limited, each get a
// directory.
#include <sys/stat.h>

#include <cmath>
#include <string>

#include "core/base/fs.h"
#include "core/cgroup/driver.h"

namespace nucleus::cgroup::detail {
namespace {

bool is_dir(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The cpu controller is often co-mounted as "cpu,cpuacct" with a "cpu" symlink to it.
Result<std::string> hierarchy(const Config& config, std::string_view controller) {
  std::string dir = join(config.root, controller);
  if (is_dir(dir)) return dir;
  if (controller == "cpu" && is_dir(join(config.root, "cpu,cpuacct"))) {
    return join(config.root, "cpu,cpuacct");
  }
  return make_error(ENOENT, "cgroup v1", "no " + std::string(controller) + " hierarchy under " +
                                             config.root);
}

}  // namespace

Result<V1Dirs> v1_dirs(const Config& config, std::string_view name, const Limits& limits) {
  auto dir_in = [&](std::string_view controller) -> Result<std::string> {
    ASSIGN_OR_RETURN(std::string hier, hierarchy(config, controller));
    return join(join(hier, config.parent), name);
  };
  V1Dirs dirs;
  // A hierarchy without a limit would only cost a mkdir, a move and an rmdir per sandbox.
  if (limits.memory_bytes) {
    ASSIGN_OR_RETURN(std::string d, dir_in("memory"));
    dirs.memory = d;
  }
  if (limits.cpus || limits.cpu_weight) {
    ASSIGN_OR_RETURN(std::string d, dir_in("cpu"));
    dirs.cpu = d;
  }
  ASSIGN_OR_RETURN(dirs.pids, dir_in("pids"));
  return dirs;
}

std::vector<std::string> V1Dirs::all() const {
  std::vector<std::string> out;
  if (memory) out.push_back(*memory);
  if (cpu) out.push_back(*cpu);
  out.push_back(pids);
  return out;
}

Result<void> v1_apply(const Config& config, const V1Dirs& dirs, const Limits& limits) {
  if (limits.memory_bytes) {
    const std::string& memory = dirs.memory.value();
    std::uint64_t max = *limits.memory_bytes;
    TRY(write_control(config, memory, "memory.limit_in_bytes", std::to_string(max)));
    // memory+swap equal to memory: no swap at all (needs swap accounting, else no swap file
    // knob exists and swappiness 0 below is the best v1 offers).
    TRY(write_optional(config, memory, "memory.memsw.limit_in_bytes", std::to_string(max)));
    // v1 has no memory.high; the soft limit is the reclaim target under host pressure.
    TRY(write_optional(config, memory, "memory.soft_limit_in_bytes",
                       std::to_string(max / 10 * 9)));
    TRY(write_optional(config, memory, "memory.swappiness", "0"));
  }
  if (limits.cpus) {
    constexpr std::uint64_t kPeriod = 100000;
    auto quota = static_cast<std::uint64_t>(std::llround(*limits.cpus * kPeriod));
    TRY(write_control(config, dirs.cpu.value(), "cpu.cfs_period_us", std::to_string(kPeriod)));
    TRY(write_control(config, dirs.cpu.value(), "cpu.cfs_quota_us", std::to_string(quota)));
  }
  if (limits.cpu_weight) {
    TRY(write_control(config, dirs.cpu.value(), "cpu.shares",
                      std::to_string(weight_to_shares(*limits.cpu_weight))));
  }
  TRY(write_control(config, dirs.pids, "pids.max", std::to_string(limits.pids)));
  return {};
}

Result<bool> v1_oom_killed(const std::string& memory_dir) {
  if (memory_dir.empty()) return false;  // no memory limit, so no memory cgroup
  // "oom_kill N" exists since Linux 4.13.
  ASSIGN_OR_RETURN(std::string control, fs::read_file(join(memory_dir, "memory.oom_control")));
  return flat_keyed_value(control, "oom_kill") > 0;
}

}  // namespace nucleus::cgroup::detail
