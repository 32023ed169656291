// Per-sandbox NAT/DNAT nftables table in the HOST network namespace (libnftnl + libmnl only).
//
// One inet table "nucleus-<id>" per sandbox holds: masquerade for sandbox traffic leaving via any
// interface but the bridge; DNAT for published ports (prerouting for traffic from other hosts,
// output for locally generated traffic, incl. 127.0.0.1 via route_localnet); hairpin masquerade;
// and a forward chain accepting the sandbox's flows. Every change is one atomic batch.
//
// Isolation (a decision, not an accident): sandboxes are untrusted agents, so two sandboxes on the
// same bridge never reach each other -- not directly, and not through each other's published ports
// (that would only be a detour around the isolation). Each one still reaches the gateway and the
// host, upstream, and its own published ports (hairpin). It holds whether br_netfilter is loaded
// or not, because two layers cover the two paths a packet between sandboxes can take:
//   - bridged (layer 2): a bridge-family table of the same name drops every frame the bridge would
//     forward from or to the sandbox's port, except the sandbox's own IP traffic hairpinned back
//     to it. Bridge port isolation (IFLA_BRPORT_ISOLATED) is not used: it also blocks that
//     hairpin, which br_netfilter turns a DNATed packet to our own published port into.
//   - routed via the host (layer 3, and bridged IP when br_netfilter hands it to the IP hooks):
//     the inet forward chain drops bridge-to-bridge traffic to the sandbox from any other source.
// Host-originated traffic and routed traffic leave through the bridge device (bridge output hook,
// not forward), so the host and published ports are unaffected.
//
// The table is created with NFT_TABLE_F_OWNER: the kernel deletes it when the owning netlink
// socket closes, i.e. when the supervising nucleus process dies, so a crashed supervisor leaves no
// NAT behind. NatTable therefore owns that socket; while it lives, only it may modify the table.
// Callers should still journal kind kNatJournalKind / key name() before create() so that
// `nucleus gc` can call delete_nat_table() on kernels where the owner flag was refused.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"
#include "net/backend.h"
#include "net/ip.h"
#include "net/kernel/nft_batch.h"

namespace nucleus::net::nft {

// Journal kind for NAT tables; the key is the table name, attrs {"family":"inet"}.
inline constexpr std::string_view kNatJournalKind = "nft-table";

struct NatTableSpec {
  std::string sandbox_id;
  std::string bridge;                    // host bridge the sandbox veth is enslaved to
  std::string veth;                      // host end of the sandbox's veth (bridge port); empty =
                                         // no layer-2 isolation table (unit tests of NAT alone)
  std::optional<IpAddress> address4;     // sandbox's IPv4 address
  std::optional<IpAddress> address6;     // sandbox's IPv6 address (only when IPv6 is enabled)
  std::optional<Cidr> subnet4;           // bridge subnets: masquerade source match
  std::optional<Cidr> subnet6;
  std::vector<PortMapping> ports;        // published ports (may be empty; see set_ports)
  // Network namespace to create the table in (borrowed fd); -1 = the calling thread's netns.
  // The owning socket is opened there from a short-lived thread; the calling thread never setns.
  int netns_fd = -1;
};

class NatTable {
 public:
  NatTable() = default;
  NatTable(NatTable&&) noexcept = default;
  NatTable& operator=(NatTable&& other) noexcept;
  NatTable(const NatTable&) = delete;
  NatTable& operator=(const NatTable&) = delete;
  ~NatTable() { destroy(); }

  // Creates the table and all chains/rules in one atomic batch. Errors name the failing rule.
  [[nodiscard]] static Result<NatTable> create(const NatTableSpec& spec);

  // Replaces the published ports (DNAT rules) in one atomic batch; on error the old set stays.
  [[nodiscard]] Result<void> set_ports(std::span<const PortMapping> ports);

  // Deletes the table (best effort) and closes the owning socket. Idempotent.
  void destroy() noexcept;

  [[nodiscard]] const std::string& name() const { return name_; }
  // The owning socket, for other host-namespace nftables work during the table's life: every
  // nfnetlink socket closed soon after a deletion waits for a grace period (see NftSocket).
  [[nodiscard]] NftSocket& socket() { return socket_; }
  [[nodiscard]] bool valid() const { return socket_.valid(); }
  // True when the kernel accepted NFT_TABLE_F_OWNER (table dies with the socket).
  [[nodiscard]] bool owned_by_socket() const { return owner_flag_; }

 private:
  NftSocket socket_;
  NatTableSpec spec_;
  std::string name_;
  bool owner_flag_ = false;
};

// "nucleus-<id>", truncated to fit NFT_TABLE_MAXNAMELEN (256) with room to spare: at most 64
// characters; ids longer than that are shortened with a hash suffix so names stay unique.
[[nodiscard]] std::string nat_table_name(std::string_view sandbox_id);

// Deletes inet table `name` (and the bridge table of the same name) in the calling thread's netns (or netns_fd when >= 0). Succeeds when
// the table does not exist. Fails with EPERM when a live process still owns it (owner flag).
// This is the undo for journal kind kNatJournalKind.
[[nodiscard]] Result<void> delete_nat_table(std::string_view name, int netns_fd = -1);

}  // namespace nucleus::net::nft
