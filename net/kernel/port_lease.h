// Host ports published by running sandboxes, shared by every nucleus process.
//
// DNAT rules do not bind sockets, so a bind() test cannot see that another sandbox already
// publishes a host port; two DNAT rules for one port would silently send traffic to whichever
// table the kernel evaluates first. This registry (<state_root>/net/ports.json under an flock on
// <state_root>/net/ports.lock, owners with pid + start time, dead ones reclaimed) refuses that.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/base/journal.h"
#include "core/base/result.h"
#include "net/backend.h"
#include "net/owner.h"

namespace nucleus::net::kernel::port_lease {

// Journal kind; key = owner id, attrs {"state_root"}.
inline constexpr std::string_view kJournalKind = "port-lease";

// Sets owner's published ports to `ports` (replacing any it had). EADDRINUSE naming the port and
// the other sandbox when a live owner already publishes an overlapping one; nothing changes then.
[[nodiscard]] Result<void> reserve(const std::string& state_root, const Owner& owner,
                                   std::span<const PortMapping> ports);

// Drops every port of `owner_id`. Succeeds when it had none.
[[nodiscard]] Result<void> release(const std::string& state_root, std::string_view owner_id);

[[nodiscard]] nlohmann::json journal_attrs(const std::string& state_root);
[[nodiscard]] Result<void> undo(const JournalEntry& entry);

}  // namespace nucleus::net::kernel::port_lease
