// IP addresses and prefixes (IPv4 and IPv6), parsed with inet_pton: no hand-written parsers.
#pragma once

#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/result.h"

namespace nucleus::net {

struct IpAddress {
  int family = AF_INET;               // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};    // network order; IPv4 uses the first 4

  [[nodiscard]] static Result<IpAddress> parse(std::string_view text);
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] bool is_v4() const { return family == AF_INET; }
  [[nodiscard]] size_t size() const { return is_v4() ? 4 : 16; }
  auto operator<=>(const IpAddress&) const = default;
};

struct Cidr {
  IpAddress address;  // normalised to the network address by parse()
  int prefix = 0;

  // "10.0.42.0/24", "fd00:42::/64". A host bit set ("10.0.42.1/24") is an error: it is almost
  // always a typo, and silently masking it would hide which network the user meant.
  [[nodiscard]] static Result<Cidr> parse(std::string_view text);
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] bool contains(const IpAddress& ip) const;
  // The n-th address of the prefix (0 = network address). Errors when n is outside the prefix.
  [[nodiscard]] Result<IpAddress> nth(uint64_t n) const;
  // Number of addresses in the prefix, saturated at 2^63 for large IPv6 prefixes.
  [[nodiscard]] uint64_t size() const;
  auto operator<=>(const Cidr&) const = default;
};

}  // namespace nucleus::net
