// SHA-256 (FIPS 180-4), used only to pin policy files (--seccomp-profile, --caps-policy,
// --landlock-policy) to a digest the operator wrote down. Nucleus has no crypto library
// dependency, and a pin check needs nothing more than this small, test-vector-checked routine.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/result.h"

namespace nucleus::security {

class Sha256 {
 public:
  Sha256();
  void update(std::string_view data);
  // Finishes the hash; the object must not be updated afterwards.
  [[nodiscard]] std::array<std::uint8_t, 32> finish();

 private:
  void block(const std::uint8_t* p);
  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buf_{};
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
};

// Lower-case hex digest of `data`.
[[nodiscard]] std::string sha256_hex(std::string_view data);

// Reads a policy file and, when `expected_sha256` is given (64 hex digits, any case, optional
// "sha256:" prefix), fails unless the file's digest matches. The content returned is exactly the
// bytes that were hashed, so there is no window between check and use.
[[nodiscard]] Result<std::string> read_pinned_file(const std::string& path,
                                                   std::optional<std::string_view> expected_sha256);

}  // namespace nucleus::security
