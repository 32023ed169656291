// NetBackend: the seam between the runtime and everything that gives a sandbox a network.
//
// The runtime never touches links, routes or NAT itself. After clone (namespaces exist, workload
// still blocked) it calls attach(); before release it calls publish(); at teardown detach().
// Implementations: net/kernel (bridge + veth + nftables, root), net/slirp (slirp4netns, rootless).
// gVisor is not a backend: it runs inside a namespace prepared by one of these.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/journal.h"
#include "core/base/result.h"
#include "net/ip.h"

namespace nucleus::net {

enum class Protocol { kTcp, kUdp };

// One published port after ranges are expanded ("8000-8001:80-81" gives two of these).
struct PortMapping {
  std::optional<IpAddress> host_ip;  // empty = every host address
  uint16_t host_port = 0;
  uint16_t container_port = 0;
  Protocol protocol = Protocol::kTcp;
};

// What the runtime asks for; built from a validated spec only.
struct NetRequest {
  std::string sandbox_id;
  std::string state_root;           // --root: IPAM and refcount files live under it
  std::string bridge = "nucleus0";  // kernel backend
  Cidr subnet;                      // IPv4 sandbox subnet
  std::optional<IpAddress> static_ip;
  bool ipv6 = false;
  Cidr subnet6;
  std::vector<PortMapping> publish;
  std::vector<IpAddress> dns;
};

// Handles of the sandbox being set up.
struct SandboxHandles {
  pid_t pid = -1;        // the sandbox's init, host pid
  int netns_fd = -1;     // its network namespace (borrowed)
  Journal* journal = nullptr;  // record before create, remove after destroy
};

// What the sandbox got.
struct NetAttachment {
  std::string interface;  // inside the sandbox, "eth0"
  std::optional<Cidr> subnet4;
  std::optional<IpAddress> address4, gateway4;
  std::optional<Cidr> subnet6;
  std::optional<IpAddress> address6, gateway6;
  std::vector<IpAddress> resolvers;  // what resolv.conf lists
};

class NetBackend {
 public:
  virtual ~NetBackend() = default;
  [[nodiscard]] virtual std::string_view name() const = 0;
  // Gives the sandbox its connectivity. On failure everything done so far is rolled back.
  [[nodiscard]] virtual Result<NetAttachment> attach(const NetRequest& request,
                                                     const SandboxHandles& handles) = 0;
  // Publishes ports (after attach). Errors name the port.
  [[nodiscard]] virtual Result<void> publish(std::span<const PortMapping> ports) = 0;
  // Undoes attach and publish; idempotent; tolerates a namespace that is already gone.
  virtual void detach() noexcept = 0;
};

}  // namespace nucleus::net
