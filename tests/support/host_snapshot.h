// What a sandbox may change on the machine it runs on, as text, so a test can assert that the host
// is exactly as before once the sandbox is gone (normal exit, killed workload, killed nucleus + gc).
#pragma once

#include <string>

#include "tests/support/netns.h"

namespace nucleus::testing {

// Links, addresses, IPv4/IPv6 routes, `nft -s list ruleset` (no counter values) and the sysctls nucleus touches, all in
// the throwaway host namespace of `net`, plus every file under `state_root` with its content
// (directories alone are not listed).
// Zero-byte *.lock files are left out: they are the flock rendezvous points of concurrent runs and
// are kept on purpose (unlinking a lock file another process may be waiting on breaks the lock).
// So is cache/ (content-addressed, e.g. compiled seccomp filters, shared by every run). Only JSON
// files are shown with their content; others by size.
[[nodiscard]] std::string host_snapshot(const TestNetwork& net, const std::string& state_root);

// Waits until no IPv6 address of the host namespace is still tentative (in DAD), so that two
// snapshots compare what nucleus could change and not the kernel's timers. False on timeout.
[[nodiscard]] bool settle_host_addresses(const TestNetwork& net);

}  // namespace nucleus::testing
