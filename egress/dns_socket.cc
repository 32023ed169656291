#include "egress/dns_socket.h"

#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>

#include <cstring>

namespace nucleus::egress {
namespace {

socklen_t fill_sockaddr(const net::IpAddress& address, uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (address.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, address.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  std::memcpy(&sin6->sin6_addr, address.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

Result<UniqueFd> bound_socket(const net::IpAddress& address, uint16_t port, int type) {
  const char* what = type == SOCK_DGRAM ? "dns proxy udp socket" : "dns proxy tcp socket";
  UniqueFd fd(::socket(address.family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return errno_error(what);
  int one = 1;
  if (type == SOCK_STREAM &&
      ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
    return errno_error(what, "SO_REUSEADDR");
  if (!address.is_v4() && ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
    return errno_error(what, "IPV6_V6ONLY");
  sockaddr_storage ss{};
  socklen_t len = fill_sockaddr(address, port, ss);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return errno_error(what, "bind " + address.to_string() + " port " + std::to_string(port));
  if (type == SOCK_STREAM && ::listen(fd.get(), 64) != 0) return errno_error(what, "listen");
  return fd;
}

}  // namespace

Result<DnsSockets> open_dns_sockets(const net::IpAddress& address, uint16_t port) {
  DnsSockets sockets;
  ASSIGN_OR_RETURN(sockets.udp, bound_socket(address, port, SOCK_DGRAM));
  // With port 0 the TCP listener follows the port the kernel gave the UDP socket.
  ASSIGN_OR_RETURN(uint16_t udp_port, local_port(sockets.udp.get()));
  ASSIGN_OR_RETURN(sockets.tcp, bound_socket(address, udp_port, SOCK_STREAM));
  return sockets;
}

Result<DnsSockets> open_dns_sockets_in_netns(int netns_fd, const net::IpAddress& address,
                                             uint16_t port) {
  DnsSockets sockets;
  TRY(run_in_netns(netns_fd, [&]() -> Result<void> {
    ASSIGN_OR_RETURN(sockets, open_dns_sockets(address, port));
    return {};
  }));
  return sockets;
}

Result<uint16_t> local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return errno_error("getsockname");
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

}  // namespace nucleus::egress
