#include "core/base/detached.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>

namespace nucleus {

bool run_detached(std::span<const int> keep, void (*body)(void*), void* arg) noexcept {
  // Sorted before the fork: the child may not allocate, and close_range needs ascending gaps.
  std::array<unsigned, 8> kept{};
  const size_t n = std::min(keep.size(), kept.size());
  if (n < keep.size()) return false;
  for (size_t i = 0; i < n; ++i) {
    if (keep[i] < 0) return false;
    kept[i] = static_cast<unsigned>(keep[i]);
  }
  std::sort(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(n));

  // Fork semantics and no exit signal: nobody is told when this child ends.
  long pid = ::syscall(SYS_clone, 0UL, nullptr, nullptr, nullptr, nullptr);
  if (pid < 0) return false;
  if (pid > 0) return true;
  unsigned next = 0;  // the lowest descriptor not yet decided on
  for (size_t i = 0; i < n; ++i) {
    if (kept[i] > next) ::syscall(SYS_close_range, next, kept[i] - 1, 0U);
    next = kept[i] + 1;
  }
  ::syscall(SYS_close_range, next, ~0U, 0U);
  body(arg);
  ::syscall(SYS_exit_group, 0);
  __builtin_unreachable();
}

}  // namespace nucleus
