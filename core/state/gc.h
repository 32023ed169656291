// Cleaning up after a sandbox whose supervisor is gone: replay its journal backwards.
#pragma once

#include <string>

#include "core/base/journal.h"
#include "core/base/result.h"

namespace nucleus {

// Undoes every pending journal entry of sandbox `id` (newest first) and removes its state
// directory. A missing state directory is not an error (someone else cleaned up already).
[[nodiscard]] Result<void> collect_sandbox(const std::string& state_root, const std::string& id);

// Undoes one journal entry; dispatches on its kind to the module that created it.
[[nodiscard]] Result<void> undo_entry(const std::string& state_root, const std::string& id,
                                      const JournalEntry& entry);

// True when `path` was modified in the last few seconds.
[[nodiscard]] bool recently_created(const std::string& path);

}  // namespace nucleus
