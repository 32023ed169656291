#include "net/kernel/addr.h"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include <memory>

namespace nucleus::net::kernel {
namespace {

struct AddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct RtAddrPut {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct RoutePut {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
using NlAddrPtr = std::unique_ptr<nl_addr, AddrPut>;

NlAddrPtr build(const IpAddress& ip) {
  return NlAddrPtr(nl_addr_build(ip.family, ip.bytes.data(), static_cast<unsigned>(ip.size())));
}

}  // namespace

Result<void> add_address(NetlinkSocket& sock, int index, const IpAddress& address, int prefix) {
  const std::string what = address.to_string() + "/" + std::to_string(prefix);
  std::unique_ptr<rtnl_addr, RtAddrPut> addr(rtnl_addr_alloc());
  NlAddrPtr local = build(address);
  if (!addr || !local) return make_error(ENOMEM, "address add", what);
  nl_addr_set_prefixlen(local.get(), prefix);
  rtnl_addr_set_ifindex(addr.get(), index);
  if (int err = rtnl_addr_set_local(addr.get(), local.get()); err < 0)
    return std::unexpected(nl_error(err, "address add", what));
  rtnl_addr_set_prefixlen(addr.get(), prefix);
  if (!address.is_v4()) rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);
  if (int err = rtnl_addr_add(sock.get(), addr.get(), 0); err < 0) {
    Error e = nl_error(err, "address add", what);
    if (e.code == EEXIST) return {};
    return std::unexpected(std::move(e));
  }
  return {};
}

Result<void> delete_address(NetlinkSocket& sock, int index, const IpAddress& address,
                            int prefix) {
  const std::string what = address.to_string() + "/" + std::to_string(prefix);
  std::unique_ptr<rtnl_addr, RtAddrPut> addr(rtnl_addr_alloc());
  NlAddrPtr local = build(address);
  if (!addr || !local) return make_error(ENOMEM, "address delete", what);
  nl_addr_set_prefixlen(local.get(), prefix);
  rtnl_addr_set_ifindex(addr.get(), index);
  if (int err = rtnl_addr_set_local(addr.get(), local.get()); err < 0)
    return std::unexpected(nl_error(err, "address delete", what));
  rtnl_addr_set_prefixlen(addr.get(), prefix);
  if (int err = rtnl_addr_delete(sock.get(), addr.get(), 0); err < 0) {
    Error e = nl_error(err, "address delete", what);
    if (e.code == EADDRNOTAVAIL || e.code == ENODEV || e.code == ENOENT) return {};
    return std::unexpected(std::move(e));
  }
  return {};
}

Result<void> add_default_route(NetlinkSocket& sock, int index, const IpAddress& gateway) {
  const std::string what = "default via " + gateway.to_string();
  std::unique_ptr<rtnl_route, RoutePut> route(rtnl_route_alloc());
  IpAddress any;
  any.family = gateway.family;
  NlAddrPtr dst = build(any);
  NlAddrPtr gw = build(gateway);
  if (!route || !dst || !gw) return make_error(ENOMEM, "route add", what);
  nl_addr_set_prefixlen(dst.get(), 0);
  rtnl_route_set_family(route.get(), static_cast<uint8_t>(gateway.family));
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
  rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
  if (int err = rtnl_route_set_dst(route.get(), dst.get()); err < 0)
    return std::unexpected(nl_error(err, "route add", what));
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (!nh) return make_error(ENOMEM, "route add", what);
  rtnl_route_nh_set_ifindex(nh, index);
  rtnl_route_nh_set_gateway(nh, gw.get());
  rtnl_route_add_nexthop(route.get(), nh);  // the route owns nh from here
  if (int err = rtnl_route_add(sock.get(), route.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
    return std::unexpected(nl_error(err, "route add", what));
  return {};
}

}  // namespace nucleus::net::kernel
