// Egress flags of `nucleus run` (raw, as typed) and their validated form.
#pragma once

#include <string>
#include <vector>

namespace nucleus {

struct EgressFlags {
  std::vector<std::string> allow;    // --egress-allow CIDR
  std::vector<std::string> domains;  // --egress-domain NAME
  std::vector<std::string> tcp_ports;
  std::vector<std::string> udp_ports;
  bool deny_all = false;
  std::string policy_file;           // --egress-policy FILE
};

// The validated egress configuration the runtime acts on.
struct EgressConfig {
  bool enabled = false;  // deny-by-default is in force
};

}  // namespace nucleus
