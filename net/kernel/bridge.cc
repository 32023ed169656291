#include "net/kernel/bridge.h"

#include <linux/if.h>

#include "net/ipam.h"
#include "net/kernel/addr.h"
#include "net/kernel/sysctl.h"
#include "net/owner.h"

namespace nucleus::net::kernel::bridge {

Result<StateLock> lock(const std::string& state_root, std::string_view name) {
  return StateLock::acquire(state_root + "/net/bridge-" + std::string(name) + ".lock");
}

Result<LinkInfo> ensure(NetlinkSocket& sock, std::string_view name,
                        const std::optional<Address>& gateway4,
                        const std::optional<Address>& gateway6, bool* created) {
  *created = false;
  ASSIGN_OR_RETURN(std::optional<LinkInfo> info, find_link(sock, name));
  if (!info) {
    ASSIGN_OR_RETURN(int index, create_bridge(sock, name));
    *created = true;
    // Before it is up: router advertisements arriving from a sandbox must never configure the
    // host's IPv6 (addresses, default route).
    TRY(disable_accept_ra(name));
    ASSIGN_OR_RETURN(info, find_link(sock, index));
    if (!info) return make_error(ENODEV, "bridge create", std::string(name) + " vanished");
  } else if (info->kind != "bridge") {
    return fail("--bridge", std::string(name) + " exists and is not a bridge (" +
                                (info->kind.empty() ? "device" : info->kind) + ")");
  }
  if (gateway4) TRY(add_address(sock, info->index, gateway4->ip, gateway4->prefix));
  if (gateway6) TRY(add_address(sock, info->index, gateway6->ip, gateway6->prefix));
  if (!(info->flags & IFF_UP)) TRY(set_link_up(sock, info->index));
  return *info;
}

Result<void> remove_if_unused(NetlinkSocket& sock, std::string_view name) {
  ASSIGN_OR_RETURN(std::optional<LinkInfo> info, find_link(sock, name));
  if (!info || info->kind != "bridge" || info->alias != kManagedAlias) return {};
  ASSIGN_OR_RETURN(int ports, bridge_port_count(sock, info->index));
  if (ports > 0) return {};
  return delete_link(sock, name);
}

Result<void> release_gateways(NetlinkSocket& sock, std::string_view name,
                              const std::string& state_root, const std::vector<Cidr>& subnets,
                              std::string_view leaving_owner) {
  ASSIGN_OR_RETURN(std::optional<LinkInfo> info, find_link(sock, name));
  // An administrator's bridge keeps its addresses: we cannot tell ours from theirs.
  if (!info || info->kind != "bridge" || info->alias != kManagedAlias) return {};
  for (const Cidr& subnet : subnets) {
    ASSIGN_OR_RETURN(std::vector<ipam::Lease> leases, ipam::leases(state_root, subnet));
    bool in_use = false;
    for (const ipam::Lease& l : leases) in_use = in_use || (l.owner.id != leaving_owner && l.owner.alive());
    if (in_use) continue;
    ASSIGN_OR_RETURN(IpAddress gw, ipam::gateway(subnet));
    TRY(delete_address(sock, info->index, gw, subnet.prefix));
  }
  return {};
}

nlohmann::json journal_attrs(const std::string& state_root, const std::vector<Cidr>& subnets) {
  nlohmann::json list = nlohmann::json::array();
  for (const Cidr& c : subnets) list.push_back(c.to_string());
  return {{"state_root", state_root}, {"subnets", list}};
}

Result<void> undo(const JournalEntry& entry) {
  std::string state_root = json_string(entry.attrs, "state_root");
  if (state_root.empty()) return fail("bridge undo", "journal entry " + entry.key + " lacks state_root");
  std::vector<Cidr> subnets;
  if (auto it = entry.attrs.find("subnets"); it != entry.attrs.end() && it->is_array()) {
    for (const auto& s : *it) {
      if (!s.is_string()) continue;
      if (auto c = Cidr::parse(s.get<std::string>())) subnets.push_back(*c);
    }
  }
  ASSIGN_OR_RETURN(StateLock guard, lock(state_root, entry.key));
  ASSIGN_OR_RETURN(NetlinkSocket sock, NetlinkSocket::open());
  TRY(remove_if_unused(sock, entry.key));
  // The dead run's leases are not live: its gateways go unless a live sandbox still uses them.
  return release_gateways(sock, entry.key, state_root, subnets, "");
}

}  // namespace nucleus::net::kernel::bridge
