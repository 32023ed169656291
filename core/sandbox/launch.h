// Parent side of starting a sandbox: clone3 into new namespaces, user namespace id maps, the sync
// channel that holds the child until the parent's setup is done, and learning whether exec worked.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>

#include "core/base/result.h"
#include "core/base/unique_fd.h"
#include "core/sandbox/child.h"

namespace nucleus {

struct LaunchedChild {
  pid_t pid = -1;
  UniqueFd pidfd;
  UniqueFd sync;  // parent end of the SOCK_SEQPACKET pair
};

// clone3 with `namespace_flags` and CLONE_PIDFD. The child runs child_main(plan) and blocks until
// release(). Must be called while the process is single-threaded.
[[nodiscard]] Result<LaunchedChild> launch(const ChildPlan& plan, uint64_t namespace_flags);

// One contiguous id range: ids [0, count) inside are [outside, outside + count) outside.
struct IdMap {
  uid_t uid_outside = 0;
  gid_t gid_outside = 0;
  uint32_t count = 1;
  bool deny_setgroups = true;  // required when an unprivileged caller writes gid_map
};

// Rootless: the caller's own uid/gid as root inside, setgroups denied.
[[nodiscard]] IdMap rootless_id_map();
// Strict modes run as root: root inside is an unprivileged range outside (/etc/subuid and
// /etc/subgid entries for root when present, else 100000:65536).
[[nodiscard]] IdMap remapped_id_map();

// Writes the child's uid_map/gid_map. No helper binaries involved.
[[nodiscard]] Result<void> write_id_maps(pid_t pid, const IdMap& map);

// Lets the child continue with its side of the setup. `message` is kGoByte alone or a
// release_message() (etc_files.h).
[[nodiscard]] Result<void> release(LaunchedChild& child, std::string_view message);

// Waits until the child exec'd (returns nullopt) or failed (returns what it reported). When the
// child asks for id maps, `write_maps` is called and the child is told to continue.
[[nodiscard]] Result<std::optional<ChildFailure>> wait_for_exec(
    LaunchedChild& child, const std::function<Result<void>()>& write_maps = {});

// A failure the child has already reported, without waiting; nullopt when there is none.
[[nodiscard]] std::optional<ChildFailure> take_reported_failure(LaunchedChild& child);

// "mount /proc: Permission denied": a user-facing description of a child failure.
[[nodiscard]] std::string describe(const ChildFailure& failure);

}  // namespace nucleus
