// IPAM: which sandbox holds which address of a bridge subnet, shared by every nucleus process.
//
// State: <state_root>/ipam/<subnet>.json, rewritten atomically under an flock on
// <state_root>/ipam/<subnet>.lock, so concurrent starts never get the same address. Each lease
// names its Owner (sandbox id + pid + process start time); a lease whose owner is dead is
// reclaimed by the next reservation, so a crashed run cannot leak addresses for long.
//
// Never handed out: the network address, the gateway (first host address, kept by the bridge) and
// the last address of the prefix (IPv4 broadcast; for IPv6 reserved for symmetry).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/journal.h"
#include "core/base/result.h"
#include "net/ip.h"
#include "net/owner.h"

namespace nucleus::net::ipam {

// Journal kind; key "<subnet>@<sandbox id>", attrs from journal_attrs().
inline constexpr std::string_view kJournalKind = "ipam";

// IPv4 /16 to /29, IPv6 /64 to /120. Errors name the flag (--subnet / --subnet6).
[[nodiscard]] Result<void> check_subnet(const Cidr& subnet);

// First host address of the subnet: the bridge's address and the sandboxes' default gateway.
[[nodiscard]] Result<IpAddress> gateway(const Cidr& subnet);

// Reserves an address for owner. With `wanted` (--ip) exactly that address or an error saying why
// (outside the subnet, the gateway, taken). If owner.id already holds an address in this subnet it
// is returned again (idempotent).
[[nodiscard]] Result<IpAddress> reserve(const std::string& state_root, const Cidr& subnet,
                                        const Owner& owner,
                                        std::optional<IpAddress> wanted = std::nullopt);

// Releases every address `owner_id` holds in the subnet. Succeeds when there is none.
[[nodiscard]] Result<void> release(const std::string& state_root, const Cidr& subnet,
                                   std::string_view owner_id);

struct Lease {
  IpAddress address;
  Owner owner;
};
// Current leases (dead owners included), for tests and diagnostics.
[[nodiscard]] Result<std::vector<Lease>> leases(const std::string& state_root, const Cidr& subnet);

[[nodiscard]] std::string journal_key(const Cidr& subnet, std::string_view owner_id);
[[nodiscard]] nlohmann::json journal_attrs(const std::string& state_root, const Cidr& subnet,
                                           std::string_view owner_id);
// Undo of a kJournalKind entry: release(). Tolerates a lease that was never taken.
[[nodiscard]] Result<void> undo(const JournalEntry& entry);

}  // namespace nucleus::net::ipam
