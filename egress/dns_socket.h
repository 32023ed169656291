// Listening sockets for the DNS proxy, created in the network namespace they must serve.
//
// A socket keeps the netns it was created in, so the supervisor creates the proxy's sockets inside
// the sandbox netns from a short-lived thread that setns()es (setns is per thread; the Asio thread
// and the caller never change namespace) and then serves them from its own loop.
#pragma once

#include <cstdint>
#include <functional>

#include "core/base/netns.h"
#include "core/base/result.h"
#include "core/base/unique_fd.h"
#include "net/ip.h"

namespace nucleus::egress {

struct DnsSockets {
  UniqueFd udp;  // bound datagram socket
  UniqueFd tcp;  // bound, listening stream socket
};

// In the calling thread's netns. Port 0 picks a free port (the same for both when possible is not
// guaranteed; use local_port() to learn each).
[[nodiscard]] Result<DnsSockets> open_dns_sockets(const net::IpAddress& address, uint16_t port);

// Inside the netns referred to by `netns_fd` (an open /proc/PID/ns/net or /run/netns/NAME).
[[nodiscard]] Result<DnsSockets> open_dns_sockets_in_netns(int netns_fd,
                                                           const net::IpAddress& address,
                                                           uint16_t port);

// Runs fn with the calling thread in `netns_fd` (core/base/netns.h).
using nucleus::run_in_netns;

[[nodiscard]] Result<uint16_t> local_port(int fd);

}  // namespace nucleus::egress
