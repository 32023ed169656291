// NETLINK_ROUTE sockets (libnl-route-3) bound to a network namespace, and running code inside
// another network namespace.
//
// A netlink socket keeps the namespace it was created in. To work inside a sandbox's namespace we
// therefore create the socket on a short-lived thread that setns()'d into it, then use the socket
// from the caller's thread; setns() never touches a long-lived thread (ARCHITECTURE.md). One socket
// per namespace is reused for every operation of an attach: no per-call socket setup.
#pragma once

#include <sched.h>

#include <memory>
#include <string>

#include "core/base/netns.h"
#include "core/base/result.h"

struct nl_sock;

namespace nucleus::net::kernel {

class NetlinkSocket {
 public:
  NetlinkSocket() = default;
  // A socket in the calling thread's network namespace.
  [[nodiscard]] static Result<NetlinkSocket> open();
  // A socket in the namespace `netns_fd` refers to (borrowed fd).
  [[nodiscard]] static Result<NetlinkSocket> open_in(int netns_fd);

  [[nodiscard]] nl_sock* get() const { return sock_.get(); }
  [[nodiscard]] bool valid() const { return sock_ != nullptr; }

 private:
  struct Free {
    void operator()(nl_sock* sock) const;
  };
  std::unique_ptr<nl_sock, Free> sock_;
};

// libnl error code (negative NLE_*) to an Error with the closest errno, so callers can test
// error().code == EEXIST / ENODEV like for any system call.
[[nodiscard]] Error nl_error(int nl_code, std::string operation, std::string detail = {});

// Runs fn() with the calling thread in network namespace `netns_fd` (see core/base/netns.h).
using nucleus::run_in_netns;

}  // namespace nucleus::net::kernel
