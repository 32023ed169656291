#include "net/kernel/link.h"

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <memory>
#include <vector>

#include "core/base/detached.h"
#include "core/base/unique_fd.h"

namespace nucleus::net::kernel {
namespace {

struct LinkPut {
  void operator()(rtnl_link* link) const { rtnl_link_put(link); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;

struct AddrPut {
  void operator()(nl_addr* addr) const { nl_addr_put(addr); }
};

LinkInfo to_info(rtnl_link* link) {
  LinkInfo info;
  info.index = rtnl_link_get_ifindex(link);
  if (const char* n = rtnl_link_get_name(link)) info.name = n;
  if (const char* k = rtnl_link_get_type(link)) info.kind = k;
  if (const char* a = rtnl_link_get_ifalias(link)) info.alias = a;
  info.mtu = rtnl_link_get_mtu(link);
  info.flags = rtnl_link_get_flags(link);
  info.master = rtnl_link_get_master(link);
  return info;
}

Result<std::optional<LinkInfo>> get(NetlinkSocket& sock, int index, const char* name) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock.get(), index, name, &raw);
  if (err < 0) {
    Error e = nl_error(err, "link lookup", name ? name : "index " + std::to_string(index));
    if (e.code == ENODEV || e.code == ENOENT) return std::nullopt;
    return std::unexpected(std::move(e));
  }
  LinkPtr link(raw);
  return to_info(link.get());
}

// Applies `changes` to link `index` (RTM_NEWLINK on an existing link).
Result<void> change(NetlinkSocket& sock, int index, rtnl_link* changes, const std::string& what) {
  LinkPtr orig(rtnl_link_alloc());
  if (!orig) return make_error(ENOMEM, what);
  rtnl_link_set_ifindex(orig.get(), index);
  if (int err = rtnl_link_change(sock.get(), orig.get(), changes, 0); err < 0)
    return std::unexpected(nl_error(err, what, "ifindex " + std::to_string(index)));
  return {};
}

int count_port(nl_msg* msg, void* arg) {
  auto* ctx = static_cast<std::pair<int, int>*>(arg);  // {bridge index, count}
  nlattr* tb[IFLA_MAX + 1] = {};
  if (nlmsg_parse(nlmsg_hdr(msg), sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0) return NL_SKIP;
  // The kernel filters the dump by IFLA_MASTER; check again in case an old kernel ignored it.
  if (tb[IFLA_MASTER] && static_cast<int>(nla_get_u32(tb[IFLA_MASTER])) == ctx->first) ++ctx->second;
  return NL_OK;
}

}  // namespace

Result<std::optional<LinkInfo>> find_link(NetlinkSocket& sock, std::string_view name) {
  return get(sock, 0, std::string(name).c_str());
}

Result<std::optional<LinkInfo>> find_link(NetlinkSocket& sock, int index) {
  return get(sock, index, nullptr);
}

Result<int> create_bridge(NetlinkSocket& sock, std::string_view name) {
  std::string n(name);
  LinkPtr link(rtnl_link_bridge_alloc());
  if (!link) return make_error(ENOMEM, "bridge create", n);
  rtnl_link_set_name(link.get(), n.c_str());
  std::array<uint8_t, 6> mac{};
  if (::getrandom(mac.data(), mac.size(), 0) != static_cast<ssize_t>(mac.size()))
    return errno_error("bridge create", "getrandom");
  mac[0] = static_cast<uint8_t>((mac[0] & 0xfe) | 0x02);  // unicast, locally administered
  std::unique_ptr<nl_addr, AddrPut> lladdr(nl_addr_build(AF_LLC, mac.data(), mac.size()));
  if (!lladdr) return make_error(ENOMEM, "bridge create", n);
  rtnl_link_set_addr(link.get(), lladdr.get());
  if (int err = rtnl_link_add(sock.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
    return std::unexpected(nl_error(err, "bridge create", n));
  ASSIGN_OR_RETURN(std::optional<LinkInfo> info, find_link(sock, name));
  if (!info) return make_error(ENODEV, "bridge create", n + " vanished right after creation");
  // The kernel ignores IFLA_IFALIAS in a create request: set it as a change.
  LinkPtr changes(rtnl_link_alloc());
  if (!changes) return make_error(ENOMEM, "bridge create", n);
  rtnl_link_set_ifalias(changes.get(), std::string(kManagedAlias).c_str());
  TRY(change(sock, info->index, changes.get(), "bridge alias"));
  return info->index;
}

Result<int> bridge_port_count(NetlinkSocket& sock, int bridge_index) {
  std::unique_ptr<nl_msg, void (*)(nl_msg*)> msg(nlmsg_alloc_simple(RTM_GETLINK, NLM_F_DUMP),
                                                 nlmsg_free);
  if (!msg) return make_error(ENOMEM, "bridge port count");
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  if (nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
      nla_put_u32(msg.get(), IFLA_MASTER, static_cast<uint32_t>(bridge_index)) < 0)
    return make_error(ENOMEM, "bridge port count");
  if (int err = nl_send_auto(sock.get(), msg.get()); err < 0)
    return std::unexpected(nl_error(err, "bridge port count"));
  std::pair<int, int> ctx{bridge_index, 0};
  // A private copy of the socket's callbacks, so the counting hook never leaks into later calls.
  nl_cb* sock_cb = nl_socket_get_cb(sock.get());  // takes a reference
  std::unique_ptr<nl_cb, void (*)(nl_cb*)> cb(nl_cb_clone(sock_cb), nl_cb_put);
  nl_cb_put(sock_cb);
  if (!cb) return make_error(ENOMEM, "bridge port count");
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, count_port, &ctx);
  if (int err = nl_recvmsgs(sock.get(), cb.get()); err < 0)
    return std::unexpected(nl_error(err, "bridge port count"));
  return ctx.second;
}

Result<int> create_veth(NetlinkSocket& sock, const VethSpec& spec) {
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) return make_error(ENOMEM, "veth create", spec.name);
  LinkPtr peer(rtnl_link_veth_get_peer(link.get()));  // takes a reference
  rtnl_link_set_name(link.get(), spec.name.c_str());
  rtnl_link_set_name(peer.get(), spec.peer_name.c_str());
  if (spec.mtu != 0) {
    rtnl_link_set_mtu(link.get(), spec.mtu);
    rtnl_link_set_mtu(peer.get(), spec.mtu);
  }
  if (spec.master > 0) rtnl_link_set_master(link.get(), spec.master);
  // The peer is born in the sandbox namespace: no window where it sits on the host.
  if (spec.peer_netns_fd >= 0) rtnl_link_set_ns_fd(peer.get(), spec.peer_netns_fd);
  if (int err = rtnl_link_add(sock.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
    return std::unexpected(nl_error(err, "veth create", spec.name + " / " + spec.peer_name));
  ASSIGN_OR_RETURN(std::optional<LinkInfo> info, find_link(sock, spec.name));
  if (!info) return make_error(ENODEV, "veth create", spec.name + " vanished right after creation");
  return info->index;
}

Result<void> set_link_up(NetlinkSocket& sock, int index) {
  LinkPtr changes(rtnl_link_alloc());
  if (!changes) return make_error(ENOMEM, "link up");
  rtnl_link_set_flags(changes.get(), IFF_UP);
  return change(sock, index, changes.get(), "link up");
}

Result<void> set_bridge_port_hairpin(NetlinkSocket& sock, int index) {
  // Built by hand: libnl's bridge helpers only send IFLA_PROTINFO when the whole link object is of
  // the AF_BRIDGE family, which rtnl_link_change() does not produce for a veth.
  std::unique_ptr<nl_msg, void (*)(nl_msg*)> msg(nlmsg_alloc_simple(RTM_SETLINK, 0), nlmsg_free);
  if (!msg) return make_error(ENOMEM, "bridge port hairpin");
  ifinfomsg ifi{};
  ifi.ifi_family = AF_BRIDGE;
  ifi.ifi_index = index;
  if (nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0)
    return make_error(ENOMEM, "bridge port hairpin");
  nlattr* protinfo = nla_nest_start(msg.get(), IFLA_PROTINFO | NLA_F_NESTED);
  if (protinfo == nullptr || nla_put_u8(msg.get(), IFLA_BRPORT_MODE, 1) < 0)
    return make_error(ENOMEM, "bridge port hairpin");
  nla_nest_end(msg.get(), protinfo);
  if (int err = nl_send_sync(sock.get(), msg.release()); err < 0)
    return std::unexpected(nl_error(err, "bridge port hairpin", "ifindex " + std::to_string(index)));
  return {};
}

Result<void> set_link_mtu(NetlinkSocket& sock, int index, unsigned mtu) {
  LinkPtr changes(rtnl_link_alloc());
  if (!changes) return make_error(ENOMEM, "link mtu");
  rtnl_link_set_mtu(changes.get(), mtu);
  return change(sock, index, changes.get(), "link mtu " + std::to_string(mtu));
}

Result<void> set_link_master(NetlinkSocket& sock, int index, int master) {
  LinkPtr changes(rtnl_link_alloc());
  if (!changes) return make_error(ENOMEM, "link master");
  rtnl_link_set_master(changes.get(), master);
  return change(sock, index, changes.get(), "link master");
}

Result<void> rename_link(NetlinkSocket& sock, int index, std::string_view name) {
  LinkPtr changes(rtnl_link_alloc());
  if (!changes) return make_error(ENOMEM, "link rename");
  std::string n(name);
  rtnl_link_set_name(changes.get(), n.c_str());
  return change(sock, index, changes.get(), "link rename to " + n);
}

Result<void> move_link_to_netns(NetlinkSocket& sock, int index, int netns_fd) {
  LinkPtr changes(rtnl_link_alloc());
  if (!changes) return make_error(ENOMEM, "link netns");
  rtnl_link_set_ns_fd(changes.get(), netns_fd);
  return change(sock, index, changes.get(), "link move to netns");
}

Result<void> delete_link(NetlinkSocket& sock, std::string_view name) {
  LinkPtr link(rtnl_link_alloc());
  if (!link) return make_error(ENOMEM, "link delete");
  std::string n(name);
  rtnl_link_set_name(link.get(), n.c_str());
  if (int err = rtnl_link_delete(sock.get(), link.get()); err < 0) {
    Error e = nl_error(err, "link delete", n);
    if (e.code == ENODEV || e.code == ENOENT) return {};
    return std::unexpected(std::move(e));
  }
  return {};
}

Result<void> set_link_group(NetlinkSocket& sock, int index, uint32_t group) {
  LinkPtr changes(rtnl_link_alloc());
  if (!changes) return make_error(ENOMEM, "link group");
  rtnl_link_set_group(changes.get(), group);
  return change(sock, index, changes.get(), "link group");
}

Result<uint32_t> unused_link_group(NetlinkSocket& sock, uint32_t hint) {
  nl_cache* raw = nullptr;
  if (int err = rtnl_link_alloc_cache(sock.get(), AF_UNSPEC, &raw); err < 0)
    return std::unexpected(nl_error(err, "link dump"));
  std::unique_ptr<nl_cache, decltype(&nl_cache_free)> cache(raw, nl_cache_free);
  for (uint32_t group = hint, tries = 0; tries < 16; ++group, ++tries) {
    if (group == 0) continue;
    bool taken = false;
    for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr && !taken;
         o = nl_cache_get_next(o))
      taken = rtnl_link_get_group(reinterpret_cast<rtnl_link*>(o)) == group;
    if (!taken) return group;
  }
  return make_error(ENOSPC, "link group", "no free device group near " + std::to_string(hint));
}

namespace {

// RTM_DELLINK for device group `group` (ifindex 0 + IFLA_GROUP; libnl's delete request needs a
// name or an index).
Result<std::unique_ptr<nl_msg, decltype(&nlmsg_free)>> group_delete_request(uint32_t group) {
  if (group == 0) return fail("link group delete", "refusing the default group");
  std::unique_ptr<nl_msg, decltype(&nlmsg_free)> msg(nlmsg_alloc_simple(RTM_DELLINK, 0),
                                                      nlmsg_free);
  if (!msg) return make_error(ENOMEM, "link group delete");
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  if (nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
      nla_put_u32(msg.get(), IFLA_GROUP, group) < 0)
    return make_error(ENOMEM, "link group delete");
  return msg;
}

}  // namespace

Result<void> delete_link_group(NetlinkSocket& sock, uint32_t group) {
  ASSIGN_OR_RETURN(auto msg, group_delete_request(group));
  if (int err = nl_send_sync(sock.get(), msg.release()); err < 0)
    return std::unexpected(nl_error(err, "link group delete", "group " + std::to_string(group)));
  return {};
}

namespace {

// What the detached child needs; filled before the fork, so the child only reads its copy.
struct DetachedDelete {
  const nlmsghdr* request = nullptr;
  int netlink_fd = -1;  // a NETLINK_ROUTE socket in the links' namespace, for the request
  int result_fd = -1;   // the child sends the request's errno (0: done) here
};

// The detached child: sends the request (the kernel handles it inside sendto, returning only
// when it is completely done), then reports the kernel's answer.
void send_delete(void* arg) {
  const auto* job = static_cast<const DetachedDelete*>(arg);
  int result = 0;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(job->netlink_fd, job->request, job->request->nlmsg_len, 0,
               reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) < 0) {
    result = errno;
  } else {
    alignas(nlmsghdr) char reply[1024];
    ssize_t n = ::recv(job->netlink_fd, reply, sizeof reply, 0);
    const auto* h = reinterpret_cast<const nlmsghdr*>(reply);
    if (n < 0)
      result = errno;
    else if (n >= static_cast<ssize_t>(NLMSG_LENGTH(sizeof(nlmsgerr))) &&
             h->nlmsg_type == NLMSG_ERROR)
      result = -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
  }
  // MSG_NOSIGNAL: once the parent has seen the announcements nobody reads this any more.
  ssize_t ignored = ::send(job->result_fd, &result, sizeof result, MSG_NOSIGNAL);
  (void)ignored;
}

// Collects the indexes of links whose removal the kernel announced.
struct Announced {
  std::span<const int> wanted;
  std::vector<bool> seen;
  [[nodiscard]] bool all() const {
    return std::find(seen.begin(), seen.end(), false) == seen.end();
  }
};

int note_removal(nl_msg* msg, void* arg) {
  auto* announced = static_cast<Announced*>(arg);
  const nlmsghdr* h = nlmsg_hdr(msg);
  if (h->nlmsg_type != RTM_DELLINK || !nlmsg_valid_hdr(h, sizeof(ifinfomsg))) return NL_OK;
  const auto* ifi = static_cast<const ifinfomsg*>(nlmsg_data(h));
  // A bridge port is also announced in the AF_BRIDGE family; the link itself is AF_UNSPEC.
  if (ifi->ifi_family != AF_UNSPEC) return NL_OK;
  for (size_t i = 0; i < announced->wanted.size(); ++i)
    if (announced->wanted[i] == ifi->ifi_index) announced->seen[i] = true;
  return NL_OK;
}

}  // namespace

Result<void> delete_link_group_detached(NetlinkSocket& sock, uint32_t group,
                                        std::span<const int> indexes) {
  if (indexes.empty()) return fail("link group delete", "no links to wait for");
  ASSIGN_OR_RETURN(auto msg, group_delete_request(group));
  // Both our sockets live where `sock` does: the listener and the one the child sends on.
  UniqueFd netns(::ioctl(nl_socket_get_fd(sock.get()), SIOCGSKNS));
  if (!netns) return errno_error("link group delete", "the socket's network namespace");
  NetlinkSocket watch;
  UniqueFd request_socket;
  TRY(run_in_netns(netns.get(), [&]() -> Result<void> {
    ASSIGN_OR_RETURN(watch, NetlinkSocket::open());
    request_socket = UniqueFd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!request_socket) return errno_error("link group delete", "netlink socket");
    return {};
  }));
  // Listening before the request is sent, so no announcement can be missed.
  nl_socket_disable_seq_check(watch.get());
  if (int err = nl_socket_add_membership(watch.get(), RTNLGRP_LINK); err < 0)
    return std::unexpected(nl_error(err, "link group delete", "listen for link removals"));
  if (int err = nl_socket_set_nonblocking(watch.get()); err < 0)
    return std::unexpected(nl_error(err, "link group delete", "listen for link removals"));

  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return errno_error("link group delete", "socketpair");
  UniqueFd result(pair[0]);
  UniqueFd result_writer(pair[1]);
  nlmsghdr* request = nlmsg_hdr(msg.get());
  request->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  request->nlmsg_seq = 1;
  DetachedDelete job{request, request_socket.get(), result_writer.get()};
  const int keep[] = {request_socket.get(), result_writer.get()};
  if (!run_detached(keep, send_delete, &job)) return delete_link_group(sock, group);
  result_writer.reset();  // end of file on `result` now means the child died without a word
  request_socket.reset();

  Announced announced{indexes, std::vector<bool>(indexes.size(), false)};
  // A copy of the socket's callbacks (sequence checks off: announcements carry no sequence).
  nl_cb* sock_cb = nl_socket_get_cb(watch.get());  // takes a reference
  std::unique_ptr<nl_cb, void (*)(nl_cb*)> cb(nl_cb_clone(sock_cb), nl_cb_put);
  nl_cb_put(sock_cb);
  if (!cb) return make_error(ENOMEM, "link group delete");
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, note_removal, &announced);
  bool listening = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  const std::string what = "group " + std::to_string(group);
  while (!announced.all()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return make_error(ETIMEDOUT, "link group delete", what);
    pollfd fds[2] = {{result.get(), POLLIN, 0}, {nl_socket_get_fd(watch.get()), POLLIN, 0}};
    int ready = ::poll(fds, listening ? 2 : 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) return errno_error("link group delete", "poll");
    if (ready <= 0) continue;
    if (fds[0].revents != 0) {
      // The child is done: the kernel finished (or refused) before we saw every announcement.
      int code = 0;
      ssize_t n = ::recv(result.get(), &code, sizeof code, 0);
      if (n != static_cast<ssize_t>(sizeof code))
        return fail("link group delete", what + ": the helper died");
      if (code != 0) return make_error(code, "link group delete", what);
      return {};
    }
    int err = nl_recvmsgs(watch.get(), cb.get());
    // Too many announcements at once (ENOBUFS) or a broken socket: the child's report decides.
    if (err < 0 && err != -NLE_AGAIN) listening = false;
  }
  return {};
}

}  // namespace nucleus::net::kernel
