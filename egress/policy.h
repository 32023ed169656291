// Egress policy model: where a sandbox may connect to.
//
// A policy is an allow-list. As soon as it names anything (a prefix, a domain, a port list) every
// other destination is denied; `deny_all` denies everything and therefore cannot be combined with
// allow entries (that combination is almost always a misunderstanding, so it is an error).
//
// Domains are matched on DNS names the DNS proxy sees: exact names, case-insensitive, trailing dot
// tolerated, and `*.example.com`, which matches exactly ONE extra label (a.example.com) but neither
// the apex nor deeper names. A wildcard directly under a TLD (`*.com`) is rejected: it would let a
// workload reach any registered domain and tunnel data through the label it chooses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"
#include "net/ip.h"

namespace nucleus::egress {

// One validated domain entry. `name` is lowercase without trailing dot; for a wildcard it is the
// part after "*." (the suffix every match must end with).
struct DomainPattern {
  std::string name;
  bool wildcard = false;

  [[nodiscard]] std::string to_string() const { return wildcard ? "*." + name : name; }
  // `normalized` must come from normalize_name() (lowercase, no trailing dot).
  [[nodiscard]] bool matches(std::string_view normalized) const;
  auto operator<=>(const DomainPattern&) const = default;
};

struct Policy {
  std::vector<net::Cidr> allow;
  std::vector<DomainPattern> domains;
  // nullopt: any port of an allowed destination; an empty list: no port at all for that protocol.
  std::optional<std::vector<uint16_t>> tcp_ports;
  std::optional<std::vector<uint16_t>> udp_ports;
  bool deny_all = false;

  // True when the policy restricts anything (otherwise egress is unrestricted).
  [[nodiscard]] bool active() const;
  // True when a DNS name is covered by `domains` (case-insensitive, trailing dot tolerated).
  [[nodiscard]] bool matches(std::string_view name) const;
  [[nodiscard]] bool allows_tcp_port(uint16_t port) const;
  [[nodiscard]] bool allows_udp_port(uint16_t port) const;
};

// Lowercases and strips one trailing dot. Does not validate: names that are not valid hostnames
// (escaped bytes, underscores...) simply never match a validated pattern.
[[nodiscard]] std::string normalize_name(std::string_view name);

// Validates a hostname (RFC 1035/1123: labels of 1-63 letters, digits and inner hyphens, at most
// 253 characters) and returns it normalized.
[[nodiscard]] Result<std::string> validate_hostname(std::string_view name);

// "api.example.com", "API.example.com.", "*.example.com".
[[nodiscard]] Result<DomainPattern> parse_domain_pattern(std::string_view text);

// "443" (1-65535).
[[nodiscard]] Result<uint16_t> parse_port(std::string_view text);

// Flag-style builders; `flag` names the option in error messages ("--egress-allow").
[[nodiscard]] Result<void> add_cidr(Policy& policy, std::string_view text,
                                    std::string_view flag = "--egress-allow");
[[nodiscard]] Result<void> add_domain(Policy& policy, std::string_view text,
                                      std::string_view flag = "--egress-domain");
[[nodiscard]] Result<void> add_tcp_port(Policy& policy, std::string_view text,
                                        std::string_view flag = "--egress-tcp-port");
[[nodiscard]] Result<void> add_udp_port(Policy& policy, std::string_view text,
                                        std::string_view flag = "--egress-udp-port");

// Cross-field checks (deny_all with allow entries).
[[nodiscard]] Result<void> validate(const Policy& policy);

// TOML policy:
//   allow = ["203.0.113.0/24", "2001:db8::/32"]
//   domains = ["api.example.com", "*.cdn.example.com"]
//   tcp_ports = [443]
//   udp_ports = []
//   deny_all = false
// Unknown keys and wrong types are errors naming the key. `source` names the file in messages.
[[nodiscard]] Result<Policy> parse_policy_toml(std::string_view text,
                                               std::string_view source = "--egress-policy");
[[nodiscard]] Result<Policy> load_policy_file(const std::string& path);

}  // namespace nucleus::egress
