// /proc/sys knobs. Network sysctls are per network namespace and /proc/sys/net resolves against
// the namespace of the calling THREAD, so these act on whatever namespace the caller is in.
#pragma once

#include <string>
#include <string_view>

#include "core/base/result.h"

namespace nucleus::net::kernel {

// `key` is the path under /proc/sys, e.g. "net/ipv4/ip_forward". Values are written verbatim.
[[nodiscard]] Result<std::string> read_sysctl(std::string_view key);  // trailing newline removed
[[nodiscard]] Result<void> write_sysctl(std::string_view key, std::string_view value);

// accept_ra=0 for one interface (router advertisements from a sandbox must never configure the
// host). Succeeds when IPv6 is disabled on the host (no such knob).
[[nodiscard]] Result<void> disable_accept_ra(std::string_view ifname);

// route_localnet=1 on an interface: lets DNAT to/from 127.0.0.0/8 route over it (published ports
// bound to 127.0.0.1).
[[nodiscard]] Result<void> enable_route_localnet(std::string_view ifname);

}  // namespace nucleus::net::kernel
