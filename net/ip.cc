#include "net/ip.h"

#include <arpa/inet.h>

#include <charconv>

namespace nucleus::net {

Result<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET;
    return ip;
  }
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET6;
    return ip;
  }
  return fail("address", "'" + s + "' is not an IPv4 or IPv6 address");
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes.data(), buf, sizeof buf);
  return buf;
}

Result<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos)
    return fail("prefix", "'" + std::string(text) + "' has no /PREFIX");
  ASSIGN_OR_RETURN(IpAddress ip, IpAddress::parse(text.substr(0, slash)));
  std::string_view len = text.substr(slash + 1);
  int prefix = -1;
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
  int max = ip.is_v4() ? 32 : 128;
  if (ec != std::errc() || end != len.data() + len.size() || len.empty() || prefix < 0 ||
      prefix > max)
    return fail("prefix", "'" + std::string(text) + "' has an invalid prefix length (0-" +
                              std::to_string(max) + ")");
  Cidr cidr{ip, prefix};
  for (size_t bit = static_cast<size_t>(prefix); bit < ip.size() * 8; ++bit) {
    if (ip.bytes[bit / 8] & (0x80 >> (bit % 8)))
      return fail("prefix", "'" + std::string(text) + "' has host bits set");
  }
  return cidr;
}

std::string Cidr::to_string() const { return address.to_string() + "/" + std::to_string(prefix); }

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.family != address.family) return false;
  for (int bit = 0; bit < prefix; ++bit) {
    uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((ip.bytes[bit / 8] & mask) != (address.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

uint64_t Cidr::size() const {
  int host_bits = static_cast<int>(address.size() * 8) - prefix;
  if (host_bits >= 63) return uint64_t{1} << 63;
  return uint64_t{1} << host_bits;
}

Result<IpAddress> Cidr::nth(uint64_t n) const {
  if (n >= size()) return fail("address", "index outside " + to_string());
  IpAddress ip = address;
  // Add n to the low 64 bits (host part); prefixes here never need more than 63 host bits.
  size_t last = ip.size() - 1;
  for (size_t i = 0; i < 8 && n != 0; ++i) {
    unsigned sum = ip.bytes[last - i] + static_cast<unsigned>(n & 0xff);
    ip.bytes[last - i] = static_cast<uint8_t>(sum);
    n = (n >> 8) + (sum >> 8);
  }
  return ip;
}

}  // namespace nucleus::net
