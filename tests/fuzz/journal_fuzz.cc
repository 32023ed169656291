// libFuzzer target for the journal reader: `nucleus gc` reads journal.jsonl files left behind by
// dead supervisors (truncated, or written by a different version). Journal::pending reads a
// file, so the input is written to a scratch file first.
#include <cstddef>
#include <cstdint>

#include "core/base/journal.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static nucleus::fuzz::ScratchDir dir;
  static const std::string path = dir.path() + "/journal.jsonl";
  nucleus::fuzz::write_file(path, data, size);

  auto pending = nucleus::Journal::pending(path);
  FUZZ_CHECK(pending.has_value());  // a readable file always yields a (possibly empty) list
  for (size_t i = 0; i < pending->size(); ++i)
    for (size_t j = i + 1; j < pending->size(); ++j)
      FUZZ_CHECK((*pending)[i].kind != (*pending)[j].kind || (*pending)[i].key != (*pending)[j].key);
  return 0;
}
