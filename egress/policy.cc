#include "egress/policy.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "core/base/fs.h"
#include "egress/toml.h"

namespace nucleus::egress {
namespace {

constexpr size_t kMaxNameLength = 253;  // RFC 1035 255 octets on the wire, minus length bytes
constexpr size_t kMaxLabelLength = 63;

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

Result<void> check_label(std::string_view label, std::string_view whole) {
  if (label.empty()) return fail("domain", quoted(whole) + " has an empty label");
  if (label.size() > kMaxLabelLength)
    return fail("domain", quoted(whole) + " has a label longer than 63 characters");
  for (char c : label) {
    if (!is_alnum(c) && c != '-')
      return fail("domain", quoted(whole) + " contains '" + std::string(1, c) +
                                "' (only letters, digits and '-' are allowed)");
  }
  if (label.front() == '-' || label.back() == '-')
    return fail("domain", quoted(whole) + " has a label starting or ending with '-'");
  return {};
}

template <typename T>
void add_unique(std::vector<T>& list, T value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(std::move(value));
}

Result<void> add_port(std::optional<std::vector<uint16_t>>& ports, std::string_view text,
                      std::string_view flag) {
  auto port = parse_port(text);
  if (!port) return fail(std::string(flag), port.error().detail);
  if (!ports) ports.emplace();
  add_unique(*ports, *port);
  return {};
}

}  // namespace

bool DomainPattern::matches(std::string_view normalized) const {
  if (!wildcard) return normalized == name;
  // Exactly one extra label: "<label>.<name>" where <label> has no dot.
  if (normalized.size() < name.size() + 2) return false;
  size_t dot = normalized.size() - name.size() - 1;
  if (normalized[dot] != '.' || normalized.substr(dot + 1) != name) return false;
  // The extra label must be a plain label: no dot, and no \DDD escape of an odd byte.
  std::string_view label = normalized.substr(0, dot);
  return std::all_of(label.begin(), label.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '_'; });
}

bool Policy::active() const {
  return deny_all || !allow.empty() || !domains.empty() || tcp_ports || udp_ports;
}

bool Policy::matches(std::string_view name) const {
  if (deny_all) return false;
  std::string normalized = normalize_name(name);
  return std::any_of(domains.begin(), domains.end(),
                     [&](const DomainPattern& p) { return p.matches(normalized); });
}

bool Policy::allows_tcp_port(uint16_t port) const {
  if (deny_all) return false;
  return !tcp_ports || std::find(tcp_ports->begin(), tcp_ports->end(), port) != tcp_ports->end();
}

bool Policy::allows_udp_port(uint16_t port) const {
  if (deny_all) return false;
  return !udp_ports || std::find(udp_ports->begin(), udp_ports->end(), port) != udp_ports->end();
}

std::string normalize_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

Result<std::string> validate_hostname(std::string_view name) {
  std::string_view body = name;
  if (!body.empty() && body.back() == '.') body.remove_suffix(1);
  if (body.empty()) return fail("domain", "empty domain name");
  if (body.size() > kMaxNameLength)
    return fail("domain", quoted(name.substr(0, 40)) + "... is longer than 253 characters");
  size_t start = 0;
  while (true) {
    size_t dot = body.find('.', start);
    std::string_view label =
        body.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    TRY(check_label(label, name));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return normalize_name(body);
}

Result<DomainPattern> parse_domain_pattern(std::string_view text) {
  DomainPattern pattern;
  std::string_view rest = text;
  if (rest.starts_with("*.")) {
    pattern.wildcard = true;
    rest.remove_prefix(2);
  }
  if (rest.find('*') != std::string_view::npos)
    return fail("domain",
                quoted(text) + ": '*' is only allowed as the whole leftmost label (*.example.com)");
  auto name = validate_hostname(rest);
  if (!name)
    return fail("domain", name.error().detail == "empty domain name"
                              ? quoted(text) + " names no domain"
                              : name.error().detail);
  if (pattern.wildcard && name->find('.') == std::string::npos)
    return fail(
        "domain",
        quoted(text) + ": a wildcard directly under a top-level domain would allow any site");
  // "*.x" must also fit: the matched name adds at least two characters.
  if (pattern.wildcard && name->size() + 2 > kMaxNameLength)
    return fail("domain", quoted(text) + " is too long to match any name");
  pattern.name = std::move(*name);
  return pattern;
}

Result<uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 ||
      value > 65535)
    return fail("port", quoted(text) + " is not a port number (1-65535)");
  return static_cast<uint16_t>(value);
}

namespace {

Result<net::Cidr> parse_cidr_entry(std::string_view text, std::string_view flag) {
  // A bare address means that one host: accept it as /32 or /128.
  std::string spec(text);
  if (spec.find('/') == std::string::npos) {
    auto ip = net::IpAddress::parse(spec);
    if (!ip) return fail(std::string(flag), quoted(text) + " is not an address or prefix");
    spec += ip->is_v4() ? "/32" : "/128";
  }
  auto cidr = net::Cidr::parse(spec);
  if (!cidr) return fail(std::string(flag), cidr.error().detail);
  return *cidr;
}

}  // namespace

Result<void> add_cidr(Policy& policy, std::string_view text, std::string_view flag) {
  ASSIGN_OR_RETURN(net::Cidr cidr, parse_cidr_entry(text, flag));
  add_unique(policy.allow, cidr);
  return {};
}

Result<void> add_domain(Policy& policy, std::string_view text, std::string_view flag) {
  auto pattern = parse_domain_pattern(text);
  if (!pattern) return fail(std::string(flag), pattern.error().detail);
  add_unique(policy.domains, std::move(*pattern));
  return {};
}

Result<void> add_tcp_port(Policy& policy, std::string_view text, std::string_view flag) {
  return add_port(policy.tcp_ports, text, flag);
}

Result<void> add_udp_port(Policy& policy, std::string_view text, std::string_view flag) {
  return add_port(policy.udp_ports, text, flag);
}

Result<void> validate(const Policy& policy) {
  bool allows_something = !policy.allow.empty() || !policy.domains.empty() ||
                          (policy.tcp_ports && !policy.tcp_ports->empty()) ||
                          (policy.udp_ports && !policy.udp_ports->empty());
  if (policy.deny_all && allows_something)
    return fail("egress policy",
                "deny_all denies every destination and cannot be combined with allow, domains or "
                "ports (an allow-list already denies everything it does not name)");
  return {};
}

Result<Policy> parse_policy_toml(std::string_view text, std::string_view source) {
  const std::string where(source);
  ASSIGN_OR_RETURN(toml::table table, parse_toml(text, where));

  Policy policy;
  // Each array element is handed to the same builder the command-line flags use, so the file and
  // the flags can never disagree on what is valid.
  auto each_string = [&](const std::string& key, const toml::node& node, auto add) -> Result<void> {
    const toml::array* array = node.as_array();
    if (array == nullptr) return fail(where, "'" + key + "' must be an array of strings");
    for (const toml::node& item : *array) {
      const auto* value = item.as_string();
      if (value == nullptr) return fail(where, "'" + key + "' must be an array of strings");
      TRY(add(value->get(), where + ": " + key));
    }
    return {};
  };
  auto ports = [&](const std::string& key, const toml::node& node,
                   std::optional<std::vector<uint16_t>>& out) -> Result<void> {
    const toml::array* array = node.as_array();
    if (array == nullptr) return fail(where, "'" + key + "' must be an array of port numbers");
    out.emplace();
    for (const toml::node& item : *array) {
      const auto* value = item.as_integer();
      if (value == nullptr || value->get() < 1 || value->get() > 65535)
        return fail(where, "'" + key + "' must be an array of port numbers (1-65535)");
      add_unique(*out, static_cast<uint16_t>(value->get()));
    }
    return {};
  };

  for (auto&& [key_node, node] : table) {
    const std::string key(key_node.str());
    if (key == "allow") {
      // Policies of many thousand prefixes are expected: dedupe through a set, not add_unique's
      // linear scan, keeping the file's order.
      std::set<net::Cidr> seen(policy.allow.begin(), policy.allow.end());
      TRY(each_string(key, node, [&](const std::string& v, const std::string& flag) -> Result<void> {
        ASSIGN_OR_RETURN(net::Cidr cidr, parse_cidr_entry(v, flag));
        if (seen.insert(cidr).second) policy.allow.push_back(cidr);
        return {};
      }));
    } else if (key == "domains") {
      TRY(each_string(key, node, [&](const std::string& v, const std::string& flag) {
        return add_domain(policy, v, flag);
      }));
    } else if (key == "tcp_ports") {
      TRY(ports(key, node, policy.tcp_ports));
    } else if (key == "udp_ports") {
      TRY(ports(key, node, policy.udp_ports));
    } else if (key == "deny_all") {
      const auto* value = node.as_boolean();
      if (value == nullptr) return fail(where, "'deny_all' must be true or false");
      policy.deny_all = value->get();
    } else {
      return fail(where, "unknown key '" + key +
                             "' (known: allow, domains, tcp_ports, udp_ports, deny_all)");
    }
  }
  auto valid = validate(policy);
  if (!valid) return fail(where, valid.error().detail);
  return policy;
}

Result<Policy> load_policy_file(const std::string& path) {
  auto text = fs::read_file(path);
  if (!text) return make_error(text.error().code, "--egress-policy", "cannot read " + path);
  return parse_policy_toml(*text, "--egress-policy " + path);
}

}  // namespace nucleus::egress
