// Egress flags of `nucleus run` (raw, as typed) and their validated form.
#pragma once

#include <string>
#include <vector>

#include "egress/policy.h"

namespace nucleus {

struct EgressFlags {
  std::vector<std::string> allow;    // --egress-allow CIDR
  std::vector<std::string> domains;  // --egress-domain NAME
  std::vector<std::string> tcp_ports;
  std::vector<std::string> udp_ports;
  bool deny_all = false;
  std::string policy_file;  // --egress-policy FILE
};

// The validated egress configuration the runtime acts on.
struct EgressConfig {
  // Input to validate_egress, set by the service mode BEFORE it runs: when no egress flag is
  // given, deny all egress (production). Any egress flag replaces this default.
  bool default_deny_all = false;

  bool enabled = false;   // deny-by-default is in force (network bridge and an active policy)
  egress::Policy policy;  // merged from --egress-policy and the flags
  // Domains are allowed: the supervisor serves DNS for the sandbox and learns addresses from it.
  [[nodiscard]] bool dns_aware() const { return enabled && !policy.domains.empty(); }
};

}  // namespace nucleus
