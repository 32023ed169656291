#include "net/kernel/bridge.h"

#include <linux/if.h>

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

nlohmann::json journal_attrs(const std::string& state_root) { return {{"state_root", state_root}}; }

Result<void> undo(const JournalEntry& entry) {
  std::string state_root = json_string(entry.attrs, "state_root");
  if (state_root.empty()) return fail("bridge undo", "journal entry " + entry.key + " lacks state_root");
  ASSIGN_OR_RETURN(StateLock guard, lock(state_root, entry.key));
  ASSIGN_OR_RETURN(NetlinkSocket sock, NetlinkSocket::open());
  return remove_if_unused(sock, entry.key);
}

}  // namespace nucleus::net::kernel::bridge
