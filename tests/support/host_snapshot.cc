#include "tests/support/host_snapshot.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace nucleus::testing {
namespace {

constexpr const char* kSysctls[] = {
    "net/ipv4/ip_forward",
    "net/ipv6/conf/all/forwarding",
    "net/ipv6/conf/default/forwarding",
    "net/ipv4/conf/all/route_localnet",
    "net/ipv4/conf/default/route_localnet",
    "net/ipv6/conf/all/accept_ra",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
};

std::string state_files(const std::string& root) {
  std::vector<std::string> lines;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const auto& path = it->path();
    std::string rel = std::filesystem::relative(path, root, ec).string();
    if (it->is_directory(ec)) continue;  // the skeleton (sandboxes/, ipam/, net/) holds no state
    if (rel.starts_with("cache/")) continue;  // content-addressed, shared by every run
    if (path.extension() == ".lock" && it->file_size(ec) == 0) continue;
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    std::string text = content.str();
    if (path.extension() != ".json") text = std::to_string(text.size()) + " bytes";
    lines.push_back("file " + rel + ": " + text);
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace

std::string host_snapshot(const TestNetwork& net, const std::string& state_root) {
  std::string script =
      // Plain text, one fact per line, so a failing comparison shows a readable diff. No -d: a
      // bridge's details include running timers.
      "echo '## links'; ip link show; echo '## addresses'; ip addr show;"
      "echo '## routes'; ip route show table all; ip -6 route show table all;"
      "echo '## nft'; nft -s list ruleset; echo '## sysctl';";
  for (const char* k : kSysctls) {
    script += std::string(" echo ") + k + "=$(cat /proc/sys/" + k + " 2>/dev/null);";
  }
  auto r = net.sh_host(script);
  return r.out + (r.status == 0 ? "" : "## snapshot failed: " + r.err) + "## state\n" +
         state_files(state_root);
}

bool settle_host_addresses(const TestNetwork& net) {
  return eventually([&] { return net.sh_host("ip -6 addr show tentative").out.empty(); },
                    std::chrono::seconds(10));
}

}  // namespace nucleus::testing
