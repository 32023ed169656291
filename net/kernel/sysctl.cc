#include "net/kernel/sysctl.h"

#include "core/base/fs.h"

namespace nucleus::net::kernel {

Result<std::string> read_sysctl(std::string_view key) {
  ASSIGN_OR_RETURN(std::string value, fs::read_file("/proc/sys/" + std::string(key)));
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

Result<void> write_sysctl(std::string_view key, std::string_view value) {
  return fs::write_existing("/proc/sys/" + std::string(key), value);
}

Result<void> disable_accept_ra(std::string_view ifname) {
  auto r = write_sysctl("net/ipv6/conf/" + std::string(ifname) + "/accept_ra", "0");
  if (!r && r.error().code == ENOENT) return {};  // IPv6 disabled: nothing can be accepted
  return r;
}

Result<void> enable_route_localnet(std::string_view ifname) {
  return write_sysctl("net/ipv4/conf/" + std::string(ifname) + "/route_localnet", "1");
}

}  // namespace nucleus::net::kernel
