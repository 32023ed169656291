// Is a published host port free? Checked by binding it in the calling thread's (host) namespace
// before any DNAT rule is installed: a port some host program already uses would silently lose
// its traffic to the sandbox (or the reverse), so it is refused with an error naming the port.
#pragma once

#include "core/base/result.h"
#include "net/backend.h"

namespace nucleus::net::kernel {

// Binds (and releases at once) the mapping's host address and port; without a host address the
// IPv4 wildcard, plus the IPv6 wildcard when `ipv6`. EADDRINUSE names the port; EADDRNOTAVAIL
// says the host address is not on this machine.
[[nodiscard]] Result<void> check_host_port_free(const PortMapping& mapping, bool ipv6 = false);

}  // namespace nucleus::net::kernel
