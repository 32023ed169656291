// libFuzzer target for state.json, read by `nucleus state/list/stop/delete/gc` from directories
// that may have been written by another version or damaged: the input is the file content.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "core/state/state_dir.h"
#include "tests/fuzz/fuzz_util.h"

using namespace nucleus;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchDir root;
  static const std::string file = [] {
    std::filesystem::create_directories(root.path() + "/sandboxes/fuzz");
    return root.path() + "/sandboxes/fuzz/state.json";
  }();
  auto dir = StateDir::open(root.path(), "fuzz");
  FUZZ_CHECK(dir.has_value());
  fuzz::write_file(file, data, size);
  auto state = dir->load();
  if (!state) return 0;
  // What was loaded must survive being saved and loaded again.
  auto again = SandboxState::from_json(state->to_json());
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->id == state->id && again->status == state->status &&
             again->supervisor.pid == state->supervisor.pid &&
             again->workload.start_time == state->workload.start_time &&
             again->command == state->command && again->exit_status == state->exit_status);
  return 0;
}
