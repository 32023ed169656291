// Addresses and routes through libnl-route-3, in the namespace of the socket passed in.
#pragma once

#include "core/base/result.h"
#include "net/ip.h"
#include "net/kernel/netlink.h"

namespace nucleus::net::kernel {

// Adds address/prefix to link `index`. IPv6 addresses get IFA_F_NODAD so they are usable at once
// (no duplicate-address-detection delay; the address was handed out by our IPAM). An address
// that is already there is success (idempotent).
[[nodiscard]] Result<void> add_address(NetlinkSocket& sock, int index, const IpAddress& address,
                                       int prefix);

// Removes address/prefix from link `index`. An address (or link) that is not there is success.
[[nodiscard]] Result<void> delete_address(NetlinkSocket& sock, int index, const IpAddress& address,
                                          int prefix);

// Adds the default route (0.0.0.0/0 or ::/0) via `gateway` on link `index`, main table.
[[nodiscard]] Result<void> add_default_route(NetlinkSocket& sock, int index,
                                             const IpAddress& gateway);

}  // namespace nucleus::net::kernel
