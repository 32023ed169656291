// KernelBackend: `--network bridge --nat-backend kernel` (root).
//
// attach() order, each object journaled before it is created:
//   IPAM lease(s) -> bridge (if missing) -> veth pair (peer born in the sandbox netns as eth0,
//   host end enslaved, bridge MTU, hairpin) -> eth0 addresses, up, lo up, default route(s) -> NAT
//   and isolation tables (nft_nat.h, owner flag) -> accept rules in foreign drop-policy forward
//   chains (nft_forward.h) -> ip_forward reference -> published ports.
// A failure at any step rolls back what was done (detach) and returns an Error naming the step.
// detach() undoes everything in reverse, is idempotent and never touches the sandbox netns (it
// may be gone already): deleting the host veth end removes the peer. Exception: when the sandbox
// init (handles.pid) has exited and other ports keep the bridge, the veth is only released from
// the bridge and left to the kernel, which removes it with the sandbox netns (no 20-30 ms
// synchronous unregister); callers drop their own references to that netns before detach().
//
// Host-side objects are created in the calling thread's network namespace, which is the host's;
// the sandbox side is reached through a netlink socket opened inside handles.netns_fd.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/unique_fd.h"
#include "net/backend.h"
#include "net/kernel/netlink.h"
#include "net/kernel/nft_forward.h"
#include "net/kernel/nft_nat.h"
#include "net/owner.h"

namespace nucleus::net::kernel {

// "nv" + 10 hex digits of a hash of the sandbox id: unique per sandbox, <= 15 bytes (IFNAMSIZ).
[[nodiscard]] std::string host_veth_name(std::string_view sandbox_id);

class KernelBackend final : public NetBackend {
 public:
  KernelBackend() = default;
  ~KernelBackend() override { detach(); }
  KernelBackend(const KernelBackend&) = delete;
  KernelBackend& operator=(const KernelBackend&) = delete;

  [[nodiscard]] std::string_view name() const override { return "kernel"; }
  [[nodiscard]] Result<NetAttachment> attach(const NetRequest& request,
                                             const SandboxHandles& handles) override;
  // Replaces the published ports. Every host port is checked free first; on error nothing changes.
  [[nodiscard]] Result<void> publish(std::span<const PortMapping> ports) override;
  void detach() noexcept override;

 private:
  [[nodiscard]] Result<void> journal_create(std::string_view kind, std::string_view key,
                                            const nlohmann::json& attrs);
  void journal_remove(std::string_view kind, std::string_view key) noexcept;
  [[nodiscard]] Result<NetAttachment> attach_steps(const NetRequest& request,
                                                   const SandboxHandles& handles);
  [[nodiscard]] Result<void> configure_sandbox(int netns_fd);
  void detach_here() noexcept;
  // Deletes or releases the host veth at detach; see the comment in the definition.
  void drop_veth(bool bridge_locked) noexcept;
  [[nodiscard]] bool delete_together(int veth_index, int bridge_index) noexcept;
  [[nodiscard]] bool sandbox_gone() const noexcept;

  // The namespace attach() ran in. detach() may be called from another thread (a destructor);
  // host-side undo (links, /proc/sys knobs, bridge lock) then runs on a thread that joined this
  // one, never in whatever namespace the caller happens to be in.
  UniqueFd host_netns_;

  NetRequest request_;
  Journal* journal_ = nullptr;
  Owner owner_;
  NetlinkSocket host_;
  std::string veth_;
  // The sandbox init (pidfd_open of handles.pid): once it has exited, its PID namespace is empty,
  // so no process of the sandbox holds its netns any more.
  UniqueFd sandbox_pidfd_;
  std::optional<IpAddress> address4_, address6_;
  nft::NatTable nat_;
  std::vector<PortMapping> ports_;
  std::vector<nft::ForeignRule> foreign_rules_;
  bool foreign_known_ = false;  // foreign_rules_ is complete (else detach searches by comment)
  bool route_localnet_ = false;
  // What exists (or may exist) and must be undone, set when journaled.
  bool has_ipam4_ = false, has_ipam6_ = false, has_bridge_ = false, has_veth_ = false,
       has_nat_ = false, has_forward_ = false, has_ports_ = false, has_foreign_ = false;
};

}  // namespace nucleus::net::kernel
