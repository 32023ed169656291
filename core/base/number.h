// Numbers given on the command line: whole numbers, decimals and sizes. One parser for each, so
// every flag that takes a size (--memory, --tmpfs DEST:SIZE) accepts and refuses the same texts.
// No locale, no exceptions, no signs or exponents: std::from_chars only. Errors name `flag`.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/base/result.h"

namespace nucleus {

// "0", "42": digits only.
[[nodiscard]] Result<std::uint64_t> parse_whole_number(std::string_view text,
                                                     std::string_view flag);

// "1", "1.5", "0.25": digits with at most one inner dot.
[[nodiscard]] Result<double> parse_decimal(std::string_view text, std::string_view flag);

// "1048576", "4096b", "512k", "64m", "1.5g", "1t", "100MiB", "2GB": bytes, with an optional
// binary unit (k, m, g, t; case-insensitive; "b" or "ib" may follow it). Fractions need a unit.
// Zero (also "0.0001k", which rounds to it) and sizes of 2^62 bytes or more are refused: no flag
// has a use for them (a tmpfs of size 0 would even be unlimited).
[[nodiscard]] Result<std::uint64_t> parse_size(std::string_view text, std::string_view flag);

}  // namespace nucleus
