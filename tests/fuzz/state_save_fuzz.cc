// libFuzzer target for the writing side of state.json: the workload's argv is untrusted bytes
// (`nucleus run -- ARGS...`) that StateDir::save serialises and `nucleus state` reads back.
// Input: one argv element per line.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "core/state/state_dir.h"
#include "tests/fuzz/fuzz_util.h"

using namespace nucleus;

namespace {

bool valid_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir root;
  static const bool made = std::filesystem::create_directories(root.path() + "/sandboxes/fuzz");
  (void)made;
  auto dir = StateDir::open(root.path(), "fuzz");
  FUZZ_CHECK(dir.has_value());

  SandboxState state;
  state.id = "fuzz";
  state.status = "running";
  state.command = fuzz::lines(fuzz::as_text(data, size));
  // Saving may refuse argv that is not UTF-8 or store it lossily, but must never crash, and
  // valid UTF-8 must come back exactly.
  bool all_utf8 = std::all_of(state.command.begin(), state.command.end(), valid_utf8);
  auto saved = dir->save(state);
  if (all_utf8) FUZZ_CHECK(saved.has_value());
  if (!saved) return 0;
  auto loaded = dir->load();
  FUZZ_CHECK(loaded.has_value());
  if (all_utf8) FUZZ_CHECK(loaded->command == state.command);
  return 0;
}
