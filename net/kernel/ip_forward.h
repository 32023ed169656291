// IP forwarding for the bridge backend, reference counted across every nucleus process.
//
// net.ipv4.ip_forward (and net.ipv6.conf.all.forwarding for --ipv6) must be on while any sandbox
// routes through the host, and the value the host had before must come back when the last one
// leaves. State lives in <state_root>/net/ip_forward.json under an flock on
// <state_root>/net/ip_forward.lock: per family, the prior value and the list of owners. Owners
// whose process is gone (pid + start time) are dropped on every acquire/release, so a crashed
// run never pins forwarding on forever.
//
// The knobs are per network namespace: they act on the calling thread's namespace, which must be
// the same one each time for a given state_root (the host's).
#pragma once

#include <string>
#include <string_view>

#include "core/base/journal.h"
#include "core/base/result.h"
#include "net/owner.h"

namespace nucleus::net::kernel::ip_forward {

// Journal kind; key = owner id, attrs from journal_attrs().
inline constexpr std::string_view kJournalKind = "ip-forward";

// Takes a reference for owner on IPv4 forwarding (and IPv6 when `ipv6`), switching them on.
// Taking it again for the same owner id is a no-op.
[[nodiscard]] Result<void> acquire(const std::string& state_root, const Owner& owner, bool ipv6);

// Drops owner's references; the last reference to leave restores the prior values.
// Succeeds when owner held none.
[[nodiscard]] Result<void> release(const std::string& state_root, std::string_view owner_id);

[[nodiscard]] nlohmann::json journal_attrs(const std::string& state_root);
[[nodiscard]] Result<void> undo(const JournalEntry& entry);

}  // namespace nucleus::net::kernel::ip_forward
