// The one translation unit that compiles toml++'s implementation (see CMakeLists.txt: nucleus
// links no toml++ shared library, which keeps the dynamic loader's work at start-up small), and
// parse_toml().
#define TOML_IMPLEMENTATION
#include "egress/toml.h"

namespace nucleus {

Result<toml::table> parse_toml(std::string_view text, const std::string& what) {
  size_t line = 1;
  for (unsigned char c : text) {
    if (c == '\n') ++line;
    if (c >= 0x80)
      return fail(what, "line " + std::to_string(line) +
                            ": non-ASCII byte (write such characters in strings as \\uXXXX)");
  }
  try {  // toml++ is built with exceptions; they stop here
    return toml::parse(text);
  } catch (const toml::parse_error& e) {
    return fail(what, "line " + std::to_string(e.source().begin.line) + ": " +
                          std::string(e.description()));
  }
}

}  // namespace nucleus
