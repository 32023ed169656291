#include "core/spec/network_validate.h"

#include <cctype>

#include "net/port_spec.h"

namespace nucleus {
namespace {

constexpr const char* kDefaultBridge = "nucleus0";
constexpr const char* kDefaultSubnet = "10.0.42.0/24";
constexpr const char* kDefaultSubnet6 = "fd00:42::/64";
// Agent mode's default resolvers, as upstream. Stricter modes require --dns (issue 5).
constexpr const char* kDefaultDns[] = {"8.8.8.8", "8.8.4.4"};

}  // namespace

bool valid_interface_name(const std::string& name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  for (char ch : name)
    if (ch == '/' || ch == ':' || std::isspace(static_cast<unsigned char>(ch)) || ch == '\0')
      return false;
  return true;
}

std::vector<ValidationError> validate_network(const SandboxSpec& in, ValidSpec& out, uid_t euid) {
  std::vector<ValidationError> errors;
  auto add = [&](std::string flag, std::string problem) {
    errors.push_back({std::move(flag), std::move(problem)});
  };

  if (in.network == "none") out.network = NetworkMode::kNone;
  else if (in.network == "host") out.network = NetworkMode::kHost;
  else if (in.network == "bridge") out.network = NetworkMode::kBridge;
  else {
    add("--network", "'" + in.network + "' is not none, host or bridge");
    return errors;
  }

  if (out.network == NetworkMode::kHost && !in.allow_host_network)
    add("--network", "host shares the host's network stack; add --allow-host-network to confirm");
  if (in.allow_host_network && out.network != NetworkMode::kHost)
    add("--allow-host-network", "only applies to --network host");

  const bool bridge = out.network == NetworkMode::kBridge;
  // Flags that only mean something with a bridge are errors elsewhere, never silently ignored.
  auto bridge_only = [&](bool given, const char* flag) {
    if (given && !bridge) add(flag, "requires --network bridge");
  };
  bridge_only(!in.publish.empty(), "--publish");
  bridge_only(!in.bridge.empty(), "--bridge");
  bridge_only(!in.subnet.empty(), "--subnet");
  bridge_only(!in.ip.empty(), "--ip");
  bridge_only(in.ipv6, "--ipv6");
  bridge_only(!in.subnet6.empty(), "--subnet6");
  if (!in.subnet6.empty() && !in.ipv6) add("--subnet6", "requires --ipv6");
  if (out.network == NetworkMode::kNone && !in.dns.empty())
    add("--dns", "a sandbox with --network none has no resolver to use");

  if (in.nat_backend == "auto") {
    out.nat_backend = euid == 0 ? NatBackend::kKernel : NatBackend::kUserspace;
  } else if (in.nat_backend == "kernel") {
    out.nat_backend = NatBackend::kKernel;
    if (euid != 0) add("--nat-backend", "kernel needs root; use auto or userspace");
  } else if (in.nat_backend == "userspace") {
    out.nat_backend = NatBackend::kUserspace;
  } else {
    add("--nat-backend", "'" + in.nat_backend + "' is not auto, kernel or userspace");
  }
  if (bridge && out.nat_backend == NatBackend::kUserspace)
    add("--nat-backend", "the userspace (slirp4netns) backend is not available yet");

  net::NetRequest& req = out.net;
  req.sandbox_id = out.id;
  req.state_root = out.state_root;
  req.bridge = in.bridge.empty() ? kDefaultBridge : in.bridge;
  if (!valid_interface_name(req.bridge))
    add("--bridge", "'" + req.bridge + "' must be 1-15 bytes without '/', ':' or spaces");

  auto subnet = net::Cidr::parse(in.subnet.empty() ? kDefaultSubnet : in.subnet);
  if (!subnet) {
    add("--subnet", subnet.error().detail);
  } else if (!subnet->address.is_v4() || subnet->prefix < 16 || subnet->prefix > 29) {
    add("--subnet", "'" + in.subnet + "' must be an IPv4 prefix from /16 to /29");
  } else {
    req.subnet = *subnet;
  }

  if (!in.ip.empty()) {
    auto ip = net::IpAddress::parse(in.ip);
    if (!ip) add("--ip", ip.error().detail);
    else if (subnet && !subnet->contains(*ip))
      add("--ip", "'" + in.ip + "' is outside the subnet " + subnet->to_string());
    else req.static_ip = *ip;
  }

  req.ipv6 = in.ipv6;
  auto subnet6 = net::Cidr::parse(in.subnet6.empty() ? kDefaultSubnet6 : in.subnet6);
  if (!subnet6) {
    add("--subnet6", subnet6.error().detail);
  } else if (subnet6->address.is_v4() || subnet6->prefix < 48 || subnet6->prefix > 120) {
    add("--subnet6", "'" + in.subnet6 + "' must be an IPv6 prefix from /48 to /120");
  } else {
    req.subnet6 = *subnet6;
  }

  auto ports = net::parse_port_specs(in.publish);
  if (!ports) add("--publish", ports.error().detail.empty() ? ports.error().message()
                                                            : ports.error().detail);
  else req.publish = std::move(*ports);

  for (const auto& d : in.dns) {
    auto ip = net::IpAddress::parse(d);
    if (!ip) add("--dns", ip.error().detail);
    else req.dns.push_back(*ip);
  }
  if (bridge && req.dns.empty())
    for (const char* d : kDefaultDns) req.dns.push_back(*net::IpAddress::parse(d));
  return errors;
}

}  // namespace nucleus
