#include "net/kernel/netlink.h"

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

namespace nucleus::net::kernel {
namespace {

int errno_of(int nl_code) {
  switch (nl_code < 0 ? -nl_code : nl_code) {
    case NLE_EXIST: return EEXIST;
    case NLE_NODEV: return ENODEV;
    case NLE_OBJ_NOTFOUND: return ENOENT;
    case NLE_PERM: return EPERM;
    case NLE_NOACCESS: return EACCES;
    case NLE_BUSY: return EBUSY;
    case NLE_INVAL: return EINVAL;
    case NLE_RANGE: return ERANGE;
    case NLE_NOMEM: return ENOMEM;
    case NLE_NOADDR: return EADDRNOTAVAIL;
    case NLE_OPNOTSUPP: return EOPNOTSUPP;
    case NLE_AF_NOSUPPORT: return EAFNOSUPPORT;
    case NLE_AGAIN: return EAGAIN;
    case NLE_INTR: return EINTR;
    default: return 0;
  }
}

}  // namespace

Error nl_error(int nl_code, std::string operation, std::string detail) {
  int code = errno_of(nl_code);
  if (code == 0) {
    std::string text = nl_geterror(nl_code);
    detail = detail.empty() ? text : detail + ": " + text;
  }
  return Error{code, std::move(operation), std::move(detail)};
}

void NetlinkSocket::Free::operator()(nl_sock* sock) const { nl_socket_free(sock); }

Result<NetlinkSocket> NetlinkSocket::open() {
  NetlinkSocket out;
  out.sock_.reset(nl_socket_alloc());
  if (!out.sock_) return make_error(ENOMEM, "netlink socket");
  // libnl 3.7 creates the fd with SOCK_CLOEXEC, so nothing leaks into the workload.
  if (int err = nl_connect(out.sock_.get(), NETLINK_ROUTE); err < 0)
    return std::unexpected(nl_error(err, "netlink connect"));
  return out;
}

Result<NetlinkSocket> NetlinkSocket::open_in(int netns_fd) {
  return run_in_netns(netns_fd, [] { return open(); });
}

}  // namespace nucleus::net::kernel
