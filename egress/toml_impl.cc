// The one translation unit that compiles toml++'s implementation (see CMakeLists.txt: nucleus
// links no toml++ shared library, which keeps the dynamic loader's work at start-up small).
#define TOML_IMPLEMENTATION
#include <toml++/toml.h>
