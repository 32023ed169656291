// Parsing of the resource flags' values. No locale, no exceptions: std::from_chars only.
#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

#include "core/cgroup/cgroup.h"

namespace nucleus::cgroup {
namespace {

std::string lower(std::string_view s) {
  std::string out;
  for (char ch : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// A non-negative decimal such as "1", "1.5", "0.25" (no sign, no exponent, no spaces).
Result<double> parse_decimal(std::string_view text, std::string_view flag) {
  if (text.empty() || text.find_first_not_of("0123456789.") != std::string_view::npos ||
      text.front() == '.' || text.back() == '.' ||
      text.find('.') != text.rfind('.')) {
    return fail(std::string(flag), "'" + std::string(text) + "' is not a number");
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value)) {
    return fail(std::string(flag), "'" + std::string(text) + "' is not a number");
  }
  return value;
}

Result<std::uint64_t> parse_integer(std::string_view text, std::string_view flag) {
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return fail(std::string(flag), "'" + std::string(text) + "' is not a whole number");
  }
  return value;
}

}  // namespace

Result<std::uint64_t> parse_size(std::string_view text) {
  std::string s = lower(text);
  std::string_view v = s;
  if (v.ends_with("ib")) {
    v.remove_suffix(2);
  } else if (v.ends_with("b")) {
    v.remove_suffix(1);
  }
  int shift = 0;
  if (!v.empty()) {
    switch (v.back()) {
      case 'k': shift = 10; break;
      case 'm': shift = 20; break;
      case 'g': shift = 30; break;
      case 't': shift = 40; break;
      default: break;
    }
    if (shift != 0) v.remove_suffix(1);
  }
  if (v.empty()) return fail("--memory", "'" + std::string(text) + "' is not a size");
  if (v.find('.') == std::string_view::npos) {
    ASSIGN_OR_RETURN(std::uint64_t n, parse_integer(v, "--memory"));
    if (n > (std::uint64_t{1} << (62 - shift))) return fail("--memory", "size too large");
    return n << shift;
  }
  ASSIGN_OR_RETURN(double d, parse_decimal(v, "--memory"));
  double bytes = std::floor(std::ldexp(d, shift));
  if (bytes >= std::ldexp(1.0, 62)) return fail("--memory", "size too large");
  return static_cast<std::uint64_t>(bytes);
}

Result<std::uint64_t> parse_memory(std::string_view text) {
  ASSIGN_OR_RETURN(std::uint64_t bytes, parse_size(text));
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
  ASSIGN_OR_RETURN(std::uint64_t w, parse_integer(text, "--cpu-weight"));
  if (w < 1 || w > 10000) return fail("--cpu-weight", "must be between 1 and 10000");
  return static_cast<std::uint32_t>(w);
}

Result<std::uint32_t> parse_pids(std::string_view text) {
  ASSIGN_OR_RETURN(std::uint64_t n, parse_integer(text, "--pids"));
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
