// validate_egress(): turns the egress flags into an egress::Policy and decides whether it applies.
#include "core/base/log.h"
#include "core/egress/egress_runtime.h"

namespace nucleus {
namespace {

constexpr log::Logger kLog("egress");

// The first egress flag given, to name in messages.
std::string first_flag(const EgressFlags& f) {
  if (!f.allow.empty()) return "--egress-allow";
  if (!f.domains.empty()) return "--egress-domain";
  if (!f.tcp_ports.empty()) return "--egress-tcp-port";
  if (!f.udp_ports.empty()) return "--egress-udp-port";
  if (f.deny_all) return "--egress-deny-all";
  if (!f.policy_file.empty()) return "--egress-policy";
  return {};
}

std::string problem_of(const Error& e) { return e.detail.empty() ? e.message() : e.detail; }

}  // namespace

std::vector<ValidationError> validate_egress(const SandboxSpec& in, ValidSpec& out) {
  std::vector<ValidationError> errors;
  const EgressFlags& f = in.egress;
  const std::string flag = first_flag(f);
  EgressConfig& cfg = out.egress;
  cfg.enabled = false;
  cfg.policy = {};

  egress::Policy& policy = cfg.policy;
  if (!f.policy_file.empty()) {
    auto loaded = egress::load_policy_file(f.policy_file);
    if (!loaded)
      errors.push_back({"--egress-policy", loaded.error().message()});
    else
      policy = std::move(*loaded);
  }
  auto each = [&](const std::vector<std::string>& values, const char* name, auto add) {
    for (const auto& v : values)
      if (auto r = add(policy, v, name); !r) errors.push_back({name, problem_of(r.error())});
  };
  each(f.allow, "--egress-allow", egress::add_cidr);
  each(f.domains, "--egress-domain", egress::add_domain);
  each(f.tcp_ports, "--egress-tcp-port", egress::add_tcp_port);
  each(f.udp_ports, "--egress-udp-port", egress::add_udp_port);
  if (f.deny_all) policy.deny_all = true;
  if (flag.empty() && cfg.default_deny_all) policy.deny_all = true;
  if (errors.empty()) {
    if (auto r = egress::validate(policy); !r)
      errors.push_back(
          {f.deny_all ? "--egress-deny-all" : "--egress-policy", problem_of(r.error())});
  }
  if (!errors.empty()) return errors;

  switch (out.network) {
    case NetworkMode::kHost:
      if (!flag.empty())
        errors.push_back({flag,
                          "cannot be enforced with --network host (the sandbox shares the "
                          "host's network stack); use --network bridge"});
      break;
    case NetworkMode::kNone:
      if (!flag.empty())
        kLog.warn(flag +
                  " has no effect with --network none: the sandbox has no "
                  "network at all");
      break;
    case NetworkMode::kBridge:
      cfg.enabled = policy.active();
      if (cfg.dns_aware() && out.net.dns.empty())
        errors.push_back({"--egress-domain", "needs an upstream resolver (--dns)"});
      break;
  }
  return errors;
}

}  // namespace nucleus
