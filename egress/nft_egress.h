// Egress enforcement: the inet table "nucleus-egress" inside the SANDBOX network namespace.
//
// One output chain (policy drop) decides what the workload may send:
//   oif lo -> accept; ct established,related -> accept; DNS (udp/tcp 53) to the resolvers only;
//   daddr in interval sets allow4/allow6 (CIDRs, optionally only to allowed tcp/udp ports);
//   daddr in timeout sets dyn4/dyn6 (filled by the DNS proxy through add_dynamic());
//   otherwise: rate-limited NFLOG (when a group is given), a per-family counter, and reject
//   (tcp reset for TCP, icmpx admin-prohibited for everything else) so denials fail fast.
// Input stays open: replies to allowed flows need it, and nothing listens unless the workload does.
//
// The table is NOT created with the owner flag: if the supervisor died the workload must stay
// confined (fail closed). It dies with the sandbox's netns.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/base/result.h"
#include "net/ip.h"
#include "net/kernel/nft_batch.h"

namespace nucleus::egress {

inline constexpr const char* kEgressTable = "nucleus-egress";

struct EgressRules {
  std::vector<net::IpAddress> resolvers;  // DNS allowed only to these
  std::vector<net::Cidr> allow;           // IPv4 and IPv6 CIDRs; overlaps are merged
  // Ports of allowed destinations. Unrestricted (both lists empty, no flag set): every protocol
  // and port. Restricted (a list non-empty or a flag set): TCP and UDP only, each to every port
  // when its *_all_ports flag is set, else to the listed ports (an empty list: none).
  std::vector<uint16_t> tcp_ports;
  std::vector<uint16_t> udp_ports;
  bool restrict_ports = false;
  bool tcp_all_ports = false;
  bool udp_all_ports = false;
  uint16_t nflog_group = 0;  // 0 = no NFLOG, counters only
};

struct DenyCounters {
  uint64_t packets4 = 0;
  uint64_t packets6 = 0;
};

class EgressTable {
 public:
  EgressTable() = default;

  // Builds the whole table in one atomic batch through `socket`, which must have been opened in
  // the sandbox netns (net::nft::NftSocket::open_in). The table replaces any earlier one.
  [[nodiscard]] static Result<EgressTable> install(net::nft::NftSocket socket,
                                                   const EgressRules& rules);

  // Adds resolved addresses to dyn4/dyn6 with a per-element timeout, in one small batch.
  [[nodiscard]] Result<void> add_dynamic(const net::IpAddress& ip, uint32_t ttl_seconds);
  [[nodiscard]] Result<void> add_dynamic(std::span<const net::IpAddress> ips, uint32_t ttl_seconds);

  // Packets denied so far, per family.
  [[nodiscard]] Result<DenyCounters> denied();

  // Deletes the table. Without it nothing is filtered, so only call this at teardown.
  // Idempotent; tolerates a namespace or table that is already gone.
  void remove() noexcept;

  [[nodiscard]] bool valid() const { return socket_.valid(); }

 private:
  net::nft::NftSocket socket_;
};

// [start, end) ranges of merged CIDRs of one family, as set elements need them (exposed for tests).
struct AddressRange {
  net::IpAddress start;
  net::IpAddress end;   // first address after the range; ignored when to_max
  bool to_max = false;  // range runs to the last address of the family
};
[[nodiscard]] std::vector<AddressRange> merge_cidrs(std::span<const net::Cidr> cidrs, int family);

}  // namespace nucleus::egress
