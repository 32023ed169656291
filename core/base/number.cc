#include "core/base/number.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace nucleus {
namespace {

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

}  // namespace

Result<std::uint64_t> parse_whole_number(std::string_view text, std::string_view flag) {
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size())
    return fail(std::string(flag), quoted(text) + " is not a whole number");
  return value;
}

Result<double> parse_decimal(std::string_view text, std::string_view flag) {
  if (text.empty() || text.find_first_not_of("0123456789.") != std::string_view::npos ||
      text.front() == '.' || text.back() == '.' || text.find('.') != text.rfind('.'))
    return fail(std::string(flag), quoted(text) + " is not a number");
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value))
    return fail(std::string(flag), quoted(text) + " is not a number");
  return value;
}

Result<std::uint64_t> parse_size(std::string_view text, std::string_view flag) {
  std::string lowered;
  for (char ch : text) lowered += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::string_view v = lowered;
  // "ib" only after a unit ("100mib"); "b" after a unit or alone ("2gb", "4096b").
  constexpr std::string_view kUnits = "kmgt";
  const bool unit_then_ib = v.size() > 2 && v.ends_with("ib") &&
                            kUnits.find(v[v.size() - 3]) != std::string_view::npos;
  if (unit_then_ib) {
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
  const std::string not_a_size = quoted(text) + " is not a size (like 512k, 64m, 1.5g)";
  if (v.empty() || v.find_first_not_of("0123456789.") != std::string_view::npos ||
      !std::isdigit(static_cast<unsigned char>(v.front())))
    return fail(std::string(flag), not_a_size);
  const std::string too_large = quoted(text) + " is too large";
  std::uint64_t bytes = 0;
  if (v.find('.') == std::string_view::npos) {
    // Digits only: the one way left to fail is overflow.
    auto n = parse_whole_number(v, flag);
    if (!n || *n >= (std::uint64_t{1} << (62 - shift))) return fail(std::string(flag), too_large);
    bytes = *n << shift;
  } else {
    if (shift == 0) return fail(std::string(flag), quoted(text) + " is a fraction of a byte");
    auto d = parse_decimal(v, flag);
    if (!d) return fail(std::string(flag), not_a_size);
    double exact = std::floor(std::ldexp(*d, shift));
    if (exact >= std::ldexp(1.0, 62)) return fail(std::string(flag), too_large);
    bytes = static_cast<std::uint64_t>(exact);
  }
  if (bytes == 0) return fail(std::string(flag), quoted(text) + " must be at least one byte");
  return bytes;
}

}  // namespace nucleus
