// The sandbox child: the code that runs between clone3 and exec.
#pragma once

#include <cstddef>

#include "core/sandbox/child_plan.h"

namespace nucleus {

// Sent by the child over the sync socket when a step fails (then it exits). Fixed-size so the
// child can fill it without allocating.
struct ChildFailure {
  bool warning = false;   // a non-fatal note (e.g. best-effort Landlock missing); more follow
  bool wants_id_map = false;  // the child entered its user namespace: write maps, send kMapByte
  int error = 0;        // errno
  int exit_status = 125;  // what nucleus should exit with (127/126 for exec not found/denied)
  char step[64] = {};   // "mount", "pivot_root", "exec", ...
  char path[256] = {};  // the path or name involved, may be empty
};

// The byte the parent sends when its side of the setup is complete. With the default root the
// same message carries the generated /etc files (see etc_files.h), at most this many bytes.
inline constexpr char kGoByte = 'G';
inline constexpr size_t kReleaseMessageMax = 16384;
// The byte the parent sends once it has written the id maps the child asked for.
inline constexpr char kMapByte = 'M';

// Runs in the child after clone3. Waits for kGoByte on sync_fd, builds the sandbox from `plan`
// and execs the workload. Never returns. Async-signal-safe only.
[[noreturn]] void child_main(const ChildPlan& plan, int sync_fd) noexcept;

}  // namespace nucleus
