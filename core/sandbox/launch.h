// Parent side of starting a sandbox: clone3 into new namespaces, user namespace id maps, the sync
// channel that holds the child until the parent's setup is done, and learning whether exec worked.
#pragma once

#include <sys/types.h>

#include <cstdint>
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

// Rootless: map the caller's uid/gid to 0 inside the child's user namespace (setgroups denied,
// as the kernel requires for an unprivileged gid_map). No helper binaries involved.
[[nodiscard]] Result<void> write_id_maps(pid_t pid, uid_t outer_uid, gid_t outer_gid);

// Lets the child continue with its side of the setup.
[[nodiscard]] Result<void> release(LaunchedChild& child);

// Waits until the child exec'd (returns nullopt) or failed (returns what it reported).
[[nodiscard]] Result<std::optional<ChildFailure>> wait_for_exec(LaunchedChild& child);

// "mount /proc: Permission denied": a user-facing description of a child failure.
[[nodiscard]] std::string describe(const ChildFailure& failure);

}  // namespace nucleus
