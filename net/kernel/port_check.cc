#include "net/kernel/port_check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "core/base/unique_fd.h"
#include "net/port_spec.h"

namespace nucleus::net::kernel {
namespace {

Result<void> try_bind(const IpAddress& ip, const PortMapping& m) {
  const bool tcp = m.protocol == Protocol::kTcp;
  UniqueFd fd(::socket(ip.family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  if (!fd) {
    if (errno == EAFNOSUPPORT && !ip.is_v4()) return {};  // no IPv6 on this host: nothing to clash
    return errno_error("--publish", "socket for " + to_string(m));
  }
  int one = 1;
  // TCP: SO_REUSEADDR so connections lingering in TIME_WAIT do not count as "in use" (a LISTEN
  // socket still does). UDP: no SO_REUSEADDR, it would let us share a port someone holds.
  if (tcp) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (ip.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(m.host_port);
    std::memcpy(&sin->sin_addr, ip.bytes.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(m.host_port);
    std::memcpy(&sin6->sin6_addr, ip.bytes.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int err = errno;
    std::string where = (ip.is_v4() ? ip.to_string() : "[" + ip.to_string() + "]") + ":" +
                        std::to_string(m.host_port) + (tcp ? "/tcp" : "/udp");
    if (err == EADDRINUSE)
      return make_error(err, "--publish", "host port " + where + " is already in use");
    if (err == EADDRNOTAVAIL)
      return make_error(err, "--publish", "host address of " + where + " is not on this machine");
    return make_error(err, "--publish", "cannot bind " + where);
  }
  return {};
}

}  // namespace

Result<void> check_host_port_free(const PortMapping& mapping, bool ipv6) {
  if (mapping.host_ip) return try_bind(*mapping.host_ip, mapping);
  IpAddress any4;  // 0.0.0.0
  TRY(try_bind(any4, mapping));
  if (ipv6) {
    IpAddress any6;
    any6.family = AF_INET6;
    TRY(try_bind(any6, mapping));
  }
  return {};
}

}  // namespace nucleus::net::kernel
