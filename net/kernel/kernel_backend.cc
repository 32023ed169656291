#include "net/kernel/kernel_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "core/base/fs.h"
#include "core/base/log.h"
#include "net/ipam.h"
#include "net/kernel/addr.h"
#include "net/kernel/bridge.h"
#include "net/kernel/ip_forward.h"
#include "net/kernel/link.h"
#include "net/kernel/port_check.h"
#include "net/kernel/port_lease.h"
#include "net/kernel/sysctl.h"
#include "net/kernel/undo.h"
#include "net/port_spec.h"

namespace nucleus::net::kernel {
namespace {

constexpr log::Logger kLog("net");

// Prefixes an error with the attach step, so the user sees which one failed.
Error at_step(std::string_view step, Error e) {
  std::string inner = e.operation;
  if (!e.detail.empty()) inner += (inner.empty() ? "" : ": ") + e.detail;
  return Error{e.code, "network setup, " + std::string(step), std::move(inner)};
}

#define STEP(name, expr)                                                           \
  do {                                                                             \
    auto&& step_result_ = (expr);                                                  \
    if (!step_result_) return std::unexpected(at_step(name, step_result_.error())); \
  } while (0)

bool is_v4_loopback(const std::optional<IpAddress>& ip) {
  return ip && ip->is_v4() && ip->bytes[0] == 127;
}

// A previous sandbox of the same name leaves its host veth to the kernel, which removes it a few
// milliseconds after that sandbox's netns dies: wait for it (bounded) rather than fail the re-run.
Result<void> wait_link_gone(NetlinkSocket& sock, const std::string& name) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<LinkInfo> link, find_link(sock, name));
    if (!link) return {};
    if (std::chrono::steady_clock::now() >= deadline) return {};  // the retry reports EEXIST
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

std::string host_veth_name(std::string_view sandbox_id) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  for (unsigned char c : sandbox_id) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "nv%010llx", static_cast<unsigned long long>(h & 0xffffffffffULL));
  return buf;
}

Result<void> KernelBackend::journal_create(std::string_view kind, std::string_view key,
                                           const nlohmann::json& attrs) {
  if (journal_ == nullptr) return {};
  return journal_->record_create(kind, key, attrs);
}

void KernelBackend::journal_remove(std::string_view kind, std::string_view key) noexcept {
  if (journal_ == nullptr) return;
  if (auto r = journal_->record_remove(kind, key); !r)
    kLog.warn("journal: " + r.error().message());
}

Result<NetAttachment> KernelBackend::attach(const NetRequest& request,
                                            const SandboxHandles& handles) {
  if (host_netns_.valid()) return fail("network setup", "already attached");
  auto result = attach_steps(request, handles);
  if (!result) detach();  // roll back whatever was done, in reverse
  return result;
}

Result<NetAttachment> KernelBackend::attach_steps(const NetRequest& request,
                                                  const SandboxHandles& handles) {
  request_ = request;
  journal_ = handles.journal;
  {
    auto ns = fs::open_fd("/proc/thread-self/ns/net", O_RDONLY);
    if (!ns) return std::unexpected(at_step("host namespace", ns.error()));
    host_netns_ = std::move(*ns);
  }
  if (handles.netns_fd < 0) return fail("network setup", "no sandbox network namespace");
  if (handles.pid > 0) {
    // Optional: without it detach always deletes the veth synchronously.
    long fd = ::syscall(SYS_pidfd_open, handles.pid, 0);  // pidfds are always close-on-exec
    if (fd >= 0) sandbox_pidfd_ = UniqueFd(static_cast<int>(fd));
  }
  STEP("subnet", ipam::check_subnet(request.subnet));
  if (request.ipv6) STEP("subnet6", ipam::check_subnet(request.subnet6));
  ASSIGN_OR_RETURN(owner_, Owner::self(request.sandbox_id));
  ASSIGN_OR_RETURN(IpAddress gateway4, ipam::gateway(request.subnet));
  std::optional<IpAddress> gateway6;
  if (request.ipv6) {
    ASSIGN_OR_RETURN(gateway6, ipam::gateway(request.subnet6));
  }

  // 1. Addresses.
  STEP("reserve IP", journal_create(ipam::kJournalKind, ipam::journal_key(request.subnet, owner_.id),
                                    ipam::journal_attrs(request.state_root, request.subnet, owner_.id)));
  has_ipam4_ = true;
  {
    auto a = ipam::reserve(request.state_root, request.subnet, owner_, request.static_ip);
    if (!a) return std::unexpected(at_step("reserve IP", a.error()));
    address4_ = *a;
  }
  if (request.ipv6) {
    STEP("reserve IPv6", journal_create(ipam::kJournalKind,
                                        ipam::journal_key(request.subnet6, owner_.id),
                                        ipam::journal_attrs(request.state_root, request.subnet6, owner_.id)));
    has_ipam6_ = true;
    auto a = ipam::reserve(request.state_root, request.subnet6, owner_);
    if (!a) return std::unexpected(at_step("reserve IPv6", a.error()));
    address6_ = *a;
  }

  {
    auto sock = NetlinkSocket::open();
    if (!sock) return std::unexpected(at_step("netlink", sock.error()));
    host_ = std::move(*sock);
  }

  // 1b. Forwarding, before the bridge gets its gateway addresses: the kernel joins an IPv6
  // gateway's subnet-router anycast address when forwarding is on, and only a removal that also
  // happens while forwarding is on (the undo order is the reverse of this one) is sure to leave
  // it again. Turned on the other way round, a loaded machine sometimes kept a stale anycast
  // route on the bridge after the sandbox was gone.
  STEP("ip_forward", journal_create(ip_forward::kJournalKind, owner_.id,
                                    ip_forward::journal_attrs(request.state_root)));
  has_forward_ = true;
  STEP("ip_forward", ip_forward::acquire(request.state_root, owner_, request.ipv6));

  // 2+3. Bridge and veth, under the bridge lock so a leaving sandbox cannot delete the bridge
  // between our lookup and our enslaving.
  {
    auto guard = bridge::lock(request.state_root, request.bridge);
    if (!guard) return std::unexpected(at_step("bridge lock", guard.error()));
    std::vector<Cidr> subnets = {request.subnet};
    if (request.ipv6) subnets.push_back(request.subnet6);
    STEP("bridge", journal_create(bridge::kJournalKind, request.bridge,
                                  bridge::journal_attrs(request.state_root, subnets)));
    has_bridge_ = true;
    bool created = false;
    std::optional<bridge::Address> gw6;
    if (gateway6) gw6 = bridge::Address{*gateway6, request.subnet6.prefix};
    auto br = bridge::ensure(host_, request.bridge,
                             bridge::Address{gateway4, request.subnet.prefix}, gw6, &created);
    if (!br) return std::unexpected(at_step("bridge " + request.bridge, br.error()));
    if (created) kLog.info("bridge " + request.bridge + " created");

    veth_ = host_veth_name(request.sandbox_id);
    STEP("veth", journal_create(kVethJournalKind, veth_, nlohmann::json::object()));
    has_veth_ = true;
    // The peer is created directly inside the sandbox netns under its final name: no rename, no
    // move, and it is never visible on the host.
    VethSpec veth{veth_, "eth0", br->index, br->mtu, handles.netns_fd};
    auto index = create_veth(host_, veth);
    if (!index && index.error().code == EEXIST) {
      STEP("veth " + veth_, wait_link_gone(host_, veth_));
      index = create_veth(host_, veth);
    }
    if (!index) return std::unexpected(at_step("veth " + veth_, index.error()));
    STEP("veth accept_ra", disable_accept_ra(veth_));
    STEP("veth hairpin", set_bridge_port_hairpin(host_, *index));
    STEP("veth up", set_link_up(host_, *index));
  }

  // 4. Inside the sandbox.
  STEP("sandbox interface", configure_sandbox(handles.netns_fd));

  // 5. NAT.
  {
    std::string table = nft::nat_table_name(request.sandbox_id);
    STEP("NAT table", journal_create(nft::kNatJournalKind, table, {{"family", "inet"}}));
    has_nat_ = true;
    nft::NatTableSpec spec;
    spec.sandbox_id = request.sandbox_id;
    spec.bridge = request.bridge;
    spec.veth = veth_;
    spec.address4 = address4_;
    spec.subnet4 = request.subnet;
    if (request.ipv6) {
      spec.address6 = address6_;
      spec.subnet6 = request.subnet6;
    }
    auto nat = nft::NatTable::create(spec);
    if (!nat) return std::unexpected(at_step("NAT table", nat.error()));
    nat_ = std::move(*nat);
  }

  // 5b. A host whose own forward chain drops (`iptables -P FORWARD DROP`, Docker) would drop our
  // flows whatever our table says: every base chain on the hook has its say.
  STEP("forward policy", journal_create(nft::kForwardTagJournalKind, request.sandbox_id,
                                        nlohmann::json::object()));
  has_foreign_ = true;
  {
    auto rules = nft::allow_bridge_forwarding(nat_.socket(), request.sandbox_id, request.bridge);
    if (!rules) return std::unexpected(at_step("forward policy", rules.error()));
    foreign_rules_ = std::move(*rules);
    foreign_known_ = true;
  }

  // 7. Published ports.
  if (!request.publish.empty()) STEP("publish", publish(request.publish));

  NetAttachment out;
  out.interface = "eth0";
  out.subnet4 = request.subnet;
  out.address4 = address4_;
  out.gateway4 = gateway4;
  if (request.ipv6) {
    out.subnet6 = request.subnet6;
    out.address6 = address6_;
    out.gateway6 = gateway6;
  }
  out.resolvers = request.dns;
  return out;
}

Result<void> KernelBackend::configure_sandbox(int netns_fd) {
  ASSIGN_OR_RETURN(NetlinkSocket sbx, NetlinkSocket::open_in(netns_fd));
  ASSIGN_OR_RETURN(std::optional<LinkInfo> eth0, find_link(sbx, "eth0"));
  if (!eth0) return make_error(ENODEV, "eth0", "missing in the sandbox");
  TRY(add_address(sbx, eth0->index, *address4_, request_.subnet.prefix));
  if (address6_) TRY(add_address(sbx, eth0->index, *address6_, request_.subnet6.prefix));
  TRY(set_link_up(sbx, eth0->index));
  ASSIGN_OR_RETURN(std::optional<LinkInfo> lo, find_link(sbx, "lo"));
  if (lo && !(lo->flags & 1 /* IFF_UP */)) TRY(set_link_up(sbx, lo->index));
  ASSIGN_OR_RETURN(IpAddress gw4, ipam::gateway(request_.subnet));
  TRY(add_default_route(sbx, eth0->index, gw4));
  if (address6_) {
    ASSIGN_OR_RETURN(IpAddress gw6, ipam::gateway(request_.subnet6));
    TRY(add_default_route(sbx, eth0->index, gw6));
  }
  return {};
}

Result<void> KernelBackend::publish(std::span<const PortMapping> ports) {
  if (!nat_.valid()) return fail("--publish", "the network is not attached");
  for (const PortMapping& m : ports) {
    if (m.host_ip && !m.host_ip->is_v4() && !request_.ipv6)
      return fail("--publish", to_string(m) + " is an IPv6 host address but --ipv6 is off");
  }
  if (!has_ports_) {
    TRY(journal_create(port_lease::kJournalKind, owner_.id,
                       port_lease::journal_attrs(request_.state_root)));
    has_ports_ = true;
  }
  // Claim the ports among sandboxes first (DNAT binds nothing, so bind() cannot see them) ...
  TRY(port_lease::reserve(request_.state_root, owner_, ports));
  auto applied = [&]() -> Result<void> {
    // ... then make sure no host program holds them. A port this sandbox already publishes is
    // bound by nobody, so re-publishing passes.
    for (const PortMapping& m : ports) TRY(check_host_port_free(m, request_.ipv6));
    bool needs_localnet = false;
    for (const PortMapping& m : ports) needs_localnet = needs_localnet || is_v4_loopback(m.host_ip);
    if (needs_localnet && !route_localnet_) {
      // DNAT of 127.0.0.1:PORT to the sandbox routes a loopback source out of the bridge, which
      // the kernel drops unless route_localnet is set there.
      TRY(enable_route_localnet(request_.bridge));
      route_localnet_ = true;
    }
    return nat_.set_ports(ports);
  }();
  if (!applied) {
    // Give back what we claimed: the previous set stays published.
    if (auto r = port_lease::reserve(request_.state_root, owner_, ports_); !r)
      kLog.warn("port lease restore: " + r.error().message());
    return applied;
  }
  ports_.assign(ports.begin(), ports.end());
  return {};
}

namespace {
bool same_netns_as_thread(const UniqueFd& ns) {
  struct stat a{}, b{};
  if (::fstat(ns.get(), &a) != 0 || ::stat("/proc/thread-self/ns/net", &b) != 0) return false;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}
}  // namespace

void KernelBackend::detach() noexcept {
  if (!host_netns_.valid() || same_netns_as_thread(host_netns_)) {
    detach_here();
  } else {
    auto r = run_in_netns(host_netns_.get(), [this]() -> Result<void> {
      detach_here();
      return {};
    });
    if (!r) kLog.error("network teardown skipped: " + r.error().message());
  }
  host_netns_.reset();
}

void KernelBackend::detach_here() noexcept {
  try {
    if (has_foreign_) {
      bool ok = true;
      for (const nft::ForeignRule& rule : foreign_rules_) {
        auto r = nat_.valid() ? nft::delete_foreign_rule(nat_.socket(), rule)
                              : nft::delete_foreign_rule(rule);
        if (!r) {
          kLog.warn("forward rule delete: " + r.error().message());
          ok = false;
        }
      }
      if (!foreign_known_) {
        // Insertion failed or its handles were not read back: find our rules by their comment.
        if (auto r = nft::delete_rules_tagged(request_.sandbox_id); !r) {
          kLog.warn("forward rule delete: " + r.error().message());
          ok = false;
        }
      }
      if (ok) journal_remove(nft::kForwardTagJournalKind, request_.sandbox_id);
      foreign_rules_.clear();
      foreign_known_ = false;
      has_foreign_ = false;
    }
    if (has_nat_) {
      nat_.destroy();
      journal_remove(nft::kNatJournalKind, nft::nat_table_name(request_.sandbox_id));
      has_nat_ = false;
    }
    if (has_ports_) {
      if (auto r = port_lease::release(request_.state_root, owner_.id); !r)
        kLog.warn("port lease release: " + r.error().message());
      else
        journal_remove(port_lease::kJournalKind, owner_.id);
      has_ports_ = false;
      ports_.clear();
    }
    if (has_veth_ || has_bridge_) {
      if (!host_.valid()) {
        if (auto s = NetlinkSocket::open()) host_ = std::move(*s);
      }
      auto guard = bridge::lock(request_.state_root, request_.bridge);
      if (!guard) kLog.warn("bridge lock: " + guard.error().message());
      if (has_veth_ && host_.valid()) drop_veth(guard.has_value());
      if (has_bridge_ && host_.valid() && guard) {
        std::vector<Cidr> subnets;
        if (has_ipam4_) subnets.push_back(request_.subnet);
        if (has_ipam6_) subnets.push_back(request_.subnet6);
        auto r = bridge::remove_if_unused(host_, request_.bridge);
        if (r) r = bridge::release_gateways(host_, request_.bridge, request_.state_root, subnets, owner_.id);
        if (!r)
          kLog.warn("bridge delete: " + r.error().message());
        else
          journal_remove(bridge::kJournalKind, request_.bridge);
        has_bridge_ = false;
      }
    }
    // After the bridge's gateway addresses are gone (see attach).
    if (has_forward_) {
      if (auto r = ip_forward::release(request_.state_root, owner_.id); !r)
        kLog.warn("ip_forward release: " + r.error().message());
      else
        journal_remove(ip_forward::kJournalKind, owner_.id);
      has_forward_ = false;
    }
    if (has_ipam6_) {
      if (auto r = ipam::release(request_.state_root, request_.subnet6, owner_.id); !r)
        kLog.warn("ipam release: " + r.error().message());
      else
        journal_remove(ipam::kJournalKind, ipam::journal_key(request_.subnet6, owner_.id));
      has_ipam6_ = false;
    }
    if (has_ipam4_) {
      if (auto r = ipam::release(request_.state_root, request_.subnet, owner_.id); !r)
        kLog.warn("ipam release: " + r.error().message());
      else
        journal_remove(ipam::kJournalKind, ipam::journal_key(request_.subnet, owner_.id));
      has_ipam4_ = false;
    }
    host_ = NetlinkSocket();
    sandbox_pidfd_.reset();
    address4_.reset();
    address6_.reset();
    route_localnet_ = false;
  } catch (...) {
    // Nothing here throws by design (Result everywhere); a bad_alloc must not escape noexcept.
  }
}

bool KernelBackend::sandbox_gone() const noexcept {
  if (!sandbox_pidfd_.valid()) return false;
  pollfd p{sandbox_pidfd_.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

// Deleting a veth costs 20-30 ms of RCU grace periods in unregister_netdevice. When the sandbox is
// gone (its init exited, so its PID namespace is empty and nothing of the sandbox holds its netns)
// the kernel destroys the netns and removes eth0 and this host end with it, off our critical path.
// So, decided on one look at the host:
//  - another sandbox still uses the bridge: only release the veth from it, so the bridge's port
//    count stays exact for the next sandbox leaving;
//  - it is the last port of a bridge nucleus made: the veth and the bridge go together, in one
//    RTM_DELLINK by device group, so the kernel unregisters both in one batch that shares its
//    RCU waits (about 40 ms here instead of about 65 ms for two deletions), and we wait only
//    until the kernel has taken them off the host (about 12 ms less; see
//    delete_link_group_detached);
//  - otherwise (sandbox alive, lookups failed, an administrator's bridge): delete the veth.
// Runs under the bridge lock when bridge_locked.
void KernelBackend::drop_veth(bool bridge_locked) noexcept {
  bool released = false;
  if (bridge_locked && sandbox_gone()) {
    auto link = find_link(host_, veth_);
    auto bridge = find_link(host_, request_.bridge);
    if (link && !*link) {
      released = true;  // already gone with the sandbox netns
    } else if (link && bridge && *bridge && (*link)->kind == "veth" &&
               (*link)->master == (*bridge)->index) {
      auto ports = bridge_port_count(host_, (*bridge)->index);
      if (ports && *ports > 1) {
        auto r = set_link_master(host_, (*link)->index, 0);
        released = r.has_value();
        if (!r) kLog.warn("veth release: " + r.error().message());
      } else if (ports && *ports == 1 && has_bridge_ && (*bridge)->kind == "bridge" &&
                 (*bridge)->alias == kManagedAlias &&
                 delete_together((*link)->index, (*bridge)->index)) {
        journal_remove(bridge::kJournalKind, request_.bridge);
        has_bridge_ = false;
        released = true;
      }
    }
  }
  if (released) {
    journal_remove(kVethJournalKind, veth_);
  } else if (auto r = delete_link(host_, veth_); !r) {
    // The peer goes with it, or already died with the sandbox netns.
    kLog.warn("veth delete: " + r.error().message());
  } else {
    journal_remove(kVethJournalKind, veth_);
  }
  has_veth_ = false;
}

// Puts both links in an unused device group and deletes the group. False when that could not be
// done; the caller then deletes them one by one (a group set on the way is harmless, the links
// are deleted by name).
bool KernelBackend::delete_together(int veth_index, int bridge_index) noexcept {
  // Groups are free-form numbers; start from one derived from the veth's ifindex.
  auto group = unused_link_group(host_, 0x4e550000U | (static_cast<uint32_t>(veth_index) & 0xffffU));
  if (!group) return false;
  if (!set_link_group(host_, veth_index, *group) || !set_link_group(host_, bridge_index, *group))
    return false;
  const int members[] = {veth_index, bridge_index};
  if (auto r = delete_link_group_detached(host_, *group, members); !r) {
    kLog.warn("veth and bridge delete: " + r.error().message());
    return false;
  }
  return true;
}

}  // namespace nucleus::net::kernel
