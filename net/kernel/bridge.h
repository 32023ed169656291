// The host bridge shared by every sandbox of the kernel backend.
//
// Created on first use (gateway addresses, accept_ra=0, up) and deleted when its last port leaves,
// but only if nucleus created it (alias kManagedAlias): a bridge the administrator made is never
// deleted. Creating/enslaving and leaving/deleting both run under an flock on
// <state_root>/net/bridge-<name>.lock, so a sandbox leaving never deletes the bridge under one
// that is joining.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/journal.h"
#include "core/base/result.h"
#include "net/ip.h"
#include "net/kernel/link.h"
#include "net/kernel/netlink.h"
#include "net/state_lock.h"

namespace nucleus::net::kernel::bridge {

// Journal kind; key = bridge name, attrs {"state_root"}.
inline constexpr std::string_view kJournalKind = "bridge";

struct Address {
  IpAddress ip;
  int prefix = 0;
};

// Serialises bridge membership changes among nucleus processes.
[[nodiscard]] Result<StateLock> lock(const std::string& state_root, std::string_view name);

// The bridge `name`, created when missing; the gateway addresses are added either way.
// `created` says whether this call created it. Errors when `name` exists but is not a bridge.
[[nodiscard]] Result<LinkInfo> ensure(NetlinkSocket& sock, std::string_view name,
                                      const std::optional<Address>& gateway4,
                                      const std::optional<Address>& gateway6, bool* created);

// Deletes the bridge when nucleus created it and no port is left. Succeeds when it is gone,
// in use or not ours. Call under lock().
[[nodiscard]] Result<void> remove_if_unused(NetlinkSocket& sock, std::string_view name);

// A shared bridge may carry the gateways of several subnets (--subnet, --subnet6 differ between
// sandboxes). When the bridge stays (other ports), removes the gateway address of every subnet in
// `subnets` that no live sandbox other than `leaving_owner` still holds a lease in, so a sandbox
// that brought a subnet to the bridge takes it away again. Only on bridges nucleus created.
// Call under lock().
[[nodiscard]] Result<void> release_gateways(NetlinkSocket& sock, std::string_view name,
                                            const std::string& state_root,
                                            const std::vector<Cidr>& subnets,
                                            std::string_view leaving_owner);

// attrs {"state_root", "subnets": [...]}; undo also releases the subnets' gateways.
[[nodiscard]] nlohmann::json journal_attrs(const std::string& state_root,
                                           const std::vector<Cidr>& subnets = {});
// Undo for kJournalKind in the calling thread's namespace: lock + remove_if_unused.
[[nodiscard]] Result<void> undo(const JournalEntry& entry);

}  // namespace nucleus::net::kernel::bridge
