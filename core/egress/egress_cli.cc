#include "core/egress/egress_cli.h"

namespace nucleus {

void add_egress_flags(CLI::App& run, EgressFlags& flags) {
  CLI::Option_group& group =
      *run.add_option_group("Egress (any of these makes outbound traffic deny-by-default)");
  group
      .add_option("--egress-allow", flags.allow,
                  "Allow connections to CIDR (IPv4 or IPv6; repeatable)")
      ->type_name("CIDR");
  group
      .add_option("--egress-domain", flags.domains,
                  "Allow NAME as resolved through the sandbox's DNS; *.example.com matches exactly "
                  "one extra label (repeatable)")
      ->type_name("NAME");
  group
      .add_option("--egress-tcp-port", flags.tcp_ports,
                  "Only these TCP ports of allowed destinations (repeatable)")
      ->type_name("PORT");
  group
      .add_option("--egress-udp-port", flags.udp_ports,
                  "Only these UDP ports of allowed destinations (repeatable)")
      ->type_name("PORT");
  group.add_flag("--egress-deny-all", flags.deny_all, "Deny all outbound traffic");
  group
      .add_option("--egress-policy", flags.policy_file,
                  "TOML policy file (allow, domains, tcp_ports, udp_ports, deny_all)")
      ->type_name("FILE");
}

}  // namespace nucleus
