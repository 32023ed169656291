// Small file helpers. Every fd they create is CLOEXEC (fds only come from named factories).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "core/base/result.h"
#include "core/base/unique_fd.h"

namespace nucleus::fs {

// open(2) with O_CLOEXEC always added.
[[nodiscard]] Result<UniqueFd> open_fd(const std::string& path, int flags, mode_t mode = 0);

// Reads a whole (small) file: /proc and /sys entries, state files.
[[nodiscard]] Result<std::string> read_file(const std::string& path);

// A state file's text; nullopt when it does not exist or is empty. nucleus never writes an empty
// state file, but a machine crash can leave one (the state root may be on a disk filesystem and
// state writes are not fsynced), and no state in it outlives the machine.
[[nodiscard]] Result<std::optional<std::string>> read_state_file(const std::string& path);

// Writes all of `data` to `fd` (retrying short writes); `path` only names it in errors.
[[nodiscard]] Result<void> write_all(int fd, std::string_view data, const std::string& path);

// Writes `data` to an existing file such as a /proc/sys knob or a cgroup control file.
[[nodiscard]] Result<void> write_existing(const std::string& path, std::string_view data);

// Writes `data` to `path` atomically (temp file in the same dir + fsync-free rename).
[[nodiscard]] Result<void> write_atomic(const std::string& path, std::string_view data,
                                        mode_t mode = 0644);

// mkdir -p with the given mode for the directories it creates.
[[nodiscard]] Result<void> make_dirs(const std::string& path, mode_t mode = 0755);

}  // namespace nucleus::fs
