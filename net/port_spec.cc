#include "net/port_spec.h"

#include <charconv>
#include <map>
#include <optional>

namespace nucleus::net {
namespace {

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;
  [[nodiscard]] unsigned count() const { return unsigned{last} - first + 1; }
};

std::unexpected<Error> bad(std::string_view spec, std::string problem) {
  return fail("--publish", "'" + std::string(spec) + "': " + std::move(problem));
}

Result<uint16_t> parse_port(std::string_view spec, std::string_view text, std::string_view what) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return bad(spec, std::string(what) + " '" + std::string(text) + "' is not a number");
  if (value < 1 || value > 65535)
    return bad(spec, std::string(what) + " " + std::string(text) + " is outside 1-65535");
  return static_cast<uint16_t>(value);
}

Result<PortRange> parse_range(std::string_view spec, std::string_view text, std::string_view what) {
  auto dash = text.find('-');
  if (dash == std::string_view::npos) {
    ASSIGN_OR_RETURN(uint16_t port, parse_port(spec, text, what));
    return PortRange{port, port};
  }
  ASSIGN_OR_RETURN(uint16_t first, parse_port(spec, text.substr(0, dash), what));
  ASSIGN_OR_RETURN(uint16_t last, parse_port(spec, text.substr(dash + 1), what));
  if (last < first) return bad(spec, std::string(what) + " range " + std::string(text) + " is reversed");
  return PortRange{first, last};
}

bool is_wildcard(const std::optional<IpAddress>& ip) {
  if (!ip) return true;
  for (uint8_t b : ip->bytes)
    if (b != 0) return false;
  return true;
}

}  // namespace

bool overlaps(const PortMapping& a, const PortMapping& b) {
  if (a.protocol != b.protocol || a.host_port != b.host_port) return false;
  if (!a.host_ip || !b.host_ip) return true;
  if (a.host_ip->family != b.host_ip->family) return false;
  return is_wildcard(a.host_ip) || is_wildcard(b.host_ip) || *a.host_ip == *b.host_ip;
}

Result<std::vector<PortMapping>> parse_port_spec(std::string_view spec) {
  std::string_view rest = spec;
  Protocol protocol = Protocol::kTcp;
  if (auto slash = rest.rfind('/'); slash != std::string_view::npos) {
    std::string_view proto = rest.substr(slash + 1);
    if (proto == "tcp") {
      protocol = Protocol::kTcp;
    } else if (proto == "udp") {
      protocol = Protocol::kUdp;
    } else {
      return bad(spec, "protocol '" + std::string(proto) + "' is not supported (tcp or udp)");
    }
    rest = rest.substr(0, slash);
  }

  std::optional<IpAddress> host_ip;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return bad(spec, "missing ']' after the IPv6 address");
    auto ip = IpAddress::parse(rest.substr(1, close - 1));
    if (!ip || ip->is_v4())
      return bad(spec, "'" + std::string(rest.substr(1, close - 1)) + "' is not an IPv6 address");
    host_ip = *ip;
    rest = rest.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return bad(spec, "expected ':' after ']'");
    rest = rest.substr(1);
  }

  auto colon = rest.rfind(':');
  if (colon == std::string_view::npos)
    return bad(spec, "expected HOST_PORT:CONTAINER_PORT");
  std::string_view ctr_text = rest.substr(colon + 1);
  std::string_view host_part = rest.substr(0, colon);
  std::string_view host_port_text = host_part;
  if (auto c = host_part.rfind(':'); c != std::string_view::npos) {
    if (host_ip) return bad(spec, "too many ':' separated parts");
    std::string_view ip_text = host_part.substr(0, c);
    auto ip = IpAddress::parse(ip_text);
    if (ip && !ip->is_v4())
      return bad(spec, "write an IPv6 host address in brackets, e.g. [::1]:8080:80");
    if (!ip && ip_text.find(':') != std::string_view::npos)
      return bad(spec, "too many ':' separated parts");
    if (!ip) return bad(spec, "host address '" + std::string(ip_text) + "' is not an IP address");
    host_ip = *ip;
    host_port_text = host_part.substr(c + 1);
  }
  if (host_port_text.empty()) return bad(spec, "a host port is required");

  ASSIGN_OR_RETURN(PortRange host, parse_range(spec, host_port_text, "host port"));
  ASSIGN_OR_RETURN(PortRange ctr, parse_range(spec, ctr_text, "container port"));
  if (host.count() != ctr.count())
    return bad(spec, "host range has " + std::to_string(host.count()) +
                         " ports but container range has " + std::to_string(ctr.count()));

  std::vector<PortMapping> out;
  out.reserve(host.count());
  for (unsigned i = 0; i < host.count(); ++i) {
    out.push_back(PortMapping{host_ip, static_cast<uint16_t>(host.first + i),
                              static_cast<uint16_t>(ctr.first + i), protocol});
  }
  return out;
}

Result<std::vector<PortMapping>> parse_port_specs(std::span<const std::string> specs) {
  std::vector<PortMapping> all;
  // Only mappings of the same protocol and port can overlap: index them so that publishing
  // whole ranges stays linear (a pairwise check of 1-65535 took seconds).
  std::map<std::pair<Protocol, uint16_t>, std::vector<size_t>> by_port;
  for (const std::string& spec : specs) {
    ASSIGN_OR_RETURN(std::vector<PortMapping> mappings, parse_port_spec(spec));
    for (const PortMapping& m : mappings) {
      auto& same_port = by_port[{m.protocol, m.host_port}];
      for (size_t index : same_port) {
        if (overlaps(all[index], m))
          return fail("--publish", "host port " + to_string(m) + " conflicts with " +
                                       to_string(all[index]) + " (published twice)");
      }
      same_port.push_back(all.size());
      all.push_back(m);
    }
  }
  return all;
}

std::string to_string(const PortMapping& mapping) {
  std::string out;
  if (mapping.host_ip) {
    out = mapping.host_ip->is_v4() ? mapping.host_ip->to_string()
                                   : "[" + mapping.host_ip->to_string() + "]";
    out += ":";
  }
  out += std::to_string(mapping.host_port) + "->" + std::to_string(mapping.container_port);
  out += mapping.protocol == Protocol::kTcp ? "/tcp" : "/udp";
  return out;
}

}  // namespace nucleus::net
