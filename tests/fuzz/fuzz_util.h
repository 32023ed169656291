// Small helpers shared by the fuzz targets (header-only so a target stays one .cc file).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace nucleus::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits on '\n' (a field per line: the natural unit for command-line values).
inline std::vector<std::string> lines(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    out.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

// A private directory under $TMPDIR for targets whose parser reads a file; removed at exit.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/nucleus-fuzz-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) abort();
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) abort();
}

// Invariant violated: crash loudly so the driver (or libFuzzer) saves the input.
[[noreturn]] inline void invariant_failed(const char* what, const char* file, int line) {
  fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", what, file, line);
  __builtin_trap();
}
#define FUZZ_CHECK(cond)                                                      \
  do {                                                                        \
    if (!(cond)) ::nucleus::fuzz::invariant_failed(#cond, __FILE__, __LINE__); \
  } while (0)

}  // namespace nucleus::fuzz
