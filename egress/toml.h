// toml++ for nucleus: the one header to include instead of <toml++/toml.h>, and parse_toml().
//
// toml++'s implementation is compiled into nucleus (egress/toml_impl.cc) with two switches set
// here for every file that includes it:
//  - its debug assertions off, as in Debian's release build of the library (they fire on some
//    malformed documents that it otherwise reports as ordinary parse errors);
//  - its "unreachable" points abort instead of being undefined behaviour: toml++ 3.3 reaches one
//    on some non-ASCII bytes outside strings (the fuzzers found it). parse_toml() refuses such
//    bytes before toml++ sees them; the abort is the backstop.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>

#define TOML_ASSERT(expr) static_cast<void>(0)
#include <toml++/impl/preprocessor.h>
#undef TOML_UNREACHABLE
#define TOML_UNREACHABLE std::abort()
#undef TOML_ASSERT_ASSUME  // with NDEBUG it would turn the assertions into assumptions
#define TOML_ASSERT_ASSUME(expr) static_cast<void>(0)
#include <toml++/toml.h>

#include "core/base/result.h"

namespace nucleus {

// Parses a policy document. `what` names it in errors (the flag, or the flag and file). Only
// ASCII is accepted: TOML writes any other character in a string as \uXXXX.
[[nodiscard]] Result<toml::table> parse_toml(std::string_view text, const std::string& what);

}  // namespace nucleus
