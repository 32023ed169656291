// Process identity that survives pid reuse: (pid, start time in clock ticks since boot).
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "core/base/result.h"
#include "core/base/unique_fd.h"

namespace nucleus {

struct ProcessIdentity {
  pid_t pid = 0;
  uint64_t start_time = 0;  // /proc/PID/stat field 22
};

// Start time of `pid` from /proc/PID/stat.
[[nodiscard]] Result<uint64_t> process_start_time(pid_t pid);
[[nodiscard]] Result<ProcessIdentity> identify(pid_t pid);

// True when a process with this pid exists and is the same one (same start time).
[[nodiscard]] bool is_alive(const ProcessIdentity& who);

// A pidfd for exactly this process, or an error if it is gone or the pid was reused.
[[nodiscard]] Result<UniqueFd> open_pidfd(const ProcessIdentity& who);

}  // namespace nucleus
