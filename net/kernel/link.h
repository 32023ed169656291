// Links (bridge, veth, loopback) through libnl-route-3. Every call works in the namespace of the
// socket passed in. "Missing" is reported as ENODEV so callers can tolerate it during teardown.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/base/result.h"
#include "net/kernel/netlink.h"

namespace nucleus::net::kernel {

struct LinkInfo {
  int index = 0;
  std::string name;
  std::string kind;   // "bridge", "veth", "" for devices without a kind (lo, physical)
  std::string alias;  // IFLA_IFALIAS
  unsigned mtu = 0;
  unsigned flags = 0;  // IFF_*
  int master = 0;      // ifindex of the bridge this link is enslaved to, 0 if none
};

// The alias nucleus puts on bridges it creates, so that only those are ever deleted by it.
inline constexpr std::string_view kManagedAlias = "nucleus-managed";

// The link called `name`, or nullopt when there is none.
[[nodiscard]] Result<std::optional<LinkInfo>> find_link(NetlinkSocket& sock, std::string_view name);
[[nodiscard]] Result<std::optional<LinkInfo>> find_link(NetlinkSocket& sock, int index);

// Creates bridge `name`, down, with a fixed random locally administered MAC (a bridge without
// one takes the lowest port MAC, so the gateway's MAC would change under running sandboxes) and
// the alias kManagedAlias. Returns its ifindex. EEXIST when it already exists.
[[nodiscard]] Result<int> create_bridge(NetlinkSocket& sock, std::string_view name);

// Number of links enslaved to the bridge `bridge_index` (a filtered dump, not a full link list).
[[nodiscard]] Result<int> bridge_port_count(NetlinkSocket& sock, int bridge_index);

struct VethSpec {
  std::string name;            // host end
  std::string peer_name;       // other end
  int master = 0;              // enslave the host end to this bridge at creation (0 = none)
  unsigned mtu = 0;            // both ends (0 = kernel default)
  int peer_netns_fd = -1;      // create the peer directly in this namespace (-1 = same as host)
};
// Creates the pair in one request; both ends are down. Returns the host end's ifindex.
[[nodiscard]] Result<int> create_veth(NetlinkSocket& sock, const VethSpec& spec);

[[nodiscard]] Result<void> set_link_up(NetlinkSocket& sock, int index);
// Hairpin mode on bridge port `index` (IFLA_BRPORT_MODE): a frame may leave by the port it came
// in. With br_netfilter the bridge DNATs a sandbox's packet to its own published port and then
// bridges it back out of the sandbox's own port, which the bridge refuses without this.
[[nodiscard]] Result<void> set_bridge_port_hairpin(NetlinkSocket& sock, int index);
[[nodiscard]] Result<void> set_link_mtu(NetlinkSocket& sock, int index, unsigned mtu);
[[nodiscard]] Result<void> set_link_master(NetlinkSocket& sock, int index, int master);
[[nodiscard]] Result<void> rename_link(NetlinkSocket& sock, int index, std::string_view name);
// Moves a link into the namespace `netns_fd`; it keeps its name (and gets a new ifindex there).
[[nodiscard]] Result<void> move_link_to_netns(NetlinkSocket& sock, int index, int netns_fd);

// Deletes link `name`. Succeeds when it does not exist (teardown is idempotent).
[[nodiscard]] Result<void> delete_link(NetlinkSocket& sock, std::string_view name);

// Device groups (IFLA_GROUP), used to delete several links in one request: the kernel then
// unregisters them as one batch, which shares the RCU waits that make each deletion of a bridge
// or veth take tens of milliseconds.
[[nodiscard]] Result<void> set_link_group(NetlinkSocket& sock, int index, uint32_t group);
// A non-default group no link in the socket's namespace is in, near `hint`; ENOSPC if the few
// tried are all taken.
[[nodiscard]] Result<uint32_t> unused_link_group(NetlinkSocket& sock, uint32_t hint);
// Deletes every link in `group` (never the default group 0) with one RTM_DELLINK.
[[nodiscard]] Result<void> delete_link_group(NetlinkSocket& sock, uint32_t group);
// The same deletion, but returns once the links are off the host instead of when the kernel is
// done with them: the kernel takes them out of its lists and removes their addresses and routes
// first, announces each removal (RTM_DELLINK), and only then waits an RCU barrier before freeing
// them (another 12-28 ms on the development VM, sat through by whoever sent the request). A
// detached child (core/base/detached.h) sends the request from `sock`'s namespace; we return
// when the kernel has announced the removal of every link in `indexes` (the group's members), or
// when the child reports the kernel's answer (a refusal comes back as its errno). Without a
// child, deletes like delete_link_group().
[[nodiscard]] Result<void> delete_link_group_detached(NetlinkSocket& sock, uint32_t group,
                                                      std::span<const int> indexes);

}  // namespace nucleus::net::kernel
