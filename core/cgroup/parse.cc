// The resource flags' values and their bounds; the number parsers are core/base/number.h.
#include "core/base/number.h"
#include "core/cgroup/cgroup.h"

namespace nucleus::cgroup {

Result<std::uint64_t> parse_memory(std::string_view text) {
  ASSIGN_OR_RETURN(std::uint64_t bytes, parse_size(text, "--memory"));
  if (bytes < (std::uint64_t{4} << 20)) return fail("--memory", "must be at least 4m");
  return bytes;
}

Result<double> parse_cpus(std::string_view text) {
  ASSIGN_OR_RETURN(double cpus, parse_decimal(text, "--cpus"));
  if (cpus < 0.01) return fail("--cpus", "must be at least 0.01");
  if (cpus > 4096) return fail("--cpus", "must be at most 4096");
  return cpus;
}

Result<std::uint32_t> parse_cpu_weight(std::string_view text) {
  ASSIGN_OR_RETURN(std::uint64_t w, parse_whole_number(text, "--cpu-weight"));
  if (w < 1 || w > 10000) return fail("--cpu-weight", "must be between 1 and 10000");
  return static_cast<std::uint32_t>(w);
}

Result<std::uint32_t> parse_pids(std::string_view text) {
  ASSIGN_OR_RETURN(std::uint64_t n, parse_whole_number(text, "--pids"));
  // 4194304 is PID_MAX_LIMIT on 64-bit; 1 would not even allow the workload's own fork.
  if (n < 2 || n > 4194304) return fail("--pids", "must be between 2 and 4194304");
  return static_cast<std::uint32_t>(n);
}

std::uint64_t weight_to_shares(std::uint32_t weight) {
  // runc: weight = 1 + ((shares - 2) * 9999) / 262142; solved for shares.
  if (weight < 1) weight = 1;
  if (weight > 10000) weight = 10000;
  return 2 + ((std::uint64_t{weight} - 1) * 262142 + 9998) / 9999;
}

}  // namespace nucleus::cgroup
