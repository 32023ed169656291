// --workspace-mode copy-in-out: the workload works on a private staged copy of the workspace;
// after it exits, additions, changes and deletions are mirrored back to the host directory.
// The host tree is not touched while the workload runs.
#pragma once

#include <string>

#include "core/base/result.h"

namespace nucleus::workspace {

// Copies `host` into the new directory `stage`, preserving modes, owners, mtimes and symlinks.
[[nodiscard]] Result<void> stage_copy(const std::string& host, const std::string& stage);

struct SyncReport {
  size_t copied = 0;   // files and links written to the host
  size_t removed = 0;  // host entries deleted because the workload deleted them
};

// Makes `host` equal to `stage`. A file counts as changed when its type, size, mode or mtime
// differs. On error the stage is left in place so nothing is lost.
[[nodiscard]] Result<SyncReport> sync_back(const std::string& stage, const std::string& host);

}  // namespace nucleus::workspace
