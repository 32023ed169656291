#include "tests/support/netns.h"

#include <unistd.h>

#include <atomic>

namespace nucleus::testing {
namespace {

std::string unique_prefix() {
  static std::atomic<int> counter{0};
  return "nt" + std::to_string(getpid()) + "x" + std::to_string(counter++);
}

}  // namespace

// nsenter, not `ip netns exec`: the latter also makes a new mount namespace with a fresh /sys,
// which hides /sys/fs/cgroup and so would take cgroups away from the nucleus under test.
std::vector<std::string> enter_netns(const std::string& ns) {
  return {"nsenter", "--net=/run/netns/" + ns};
}

TestNetwork::TestNetwork() {
  std::string p = unique_prefix();
  host_ = p + "h";
  upstream_ = p + "u";
  std::string script =
      "set -e\n"
      "ip netns add " + host_ + "\n"
      "ip netns add " + upstream_ + "\n"
      "ip -n " + host_ + " link set lo up\n"
      "ip -n " + upstream_ + " link set lo up\n"
      "ip -n " + host_ + " link add uplink type veth peer name downlink netns " + upstream_ + "\n"
      "ip -n " + host_ + " addr add 198.51.100.1/24 dev uplink\n"
      "ip -n " + host_ + " addr add 2001:db8:100::1/64 dev uplink nodad\n"
      "ip -n " + upstream_ + " addr add 198.51.100.2/24 dev downlink\n"
      "ip -n " + upstream_ + " addr add 2001:db8:100::2/64 dev downlink nodad\n"
      "ip -n " + host_ + " link set uplink up\n"
      "ip -n " + upstream_ + " link set downlink up\n"
      "ip -n " + host_ + " route add default via 198.51.100.2\n"
      "ip -n " + host_ + " -6 route add default via 2001:db8:100::2\n"
      "for i in 10 11 12 13; do\n"
      "  ip -n " + upstream_ + " addr add 203.0.113.$i/32 dev lo\n"
      "  ip -n " + upstream_ + " addr add 2001:db8:113::$i/128 dev lo nodad\n"
      "done\n";
  ok_ = sh(script).status == 0;
}

TestNetwork::~TestNetwork() {
  for (const auto& ns : {host_, upstream_}) {
    sh("ip netns pids " + ns + " 2>/dev/null | xargs -r kill -9; ip netns del " + ns +
       " 2>/dev/null");
  }
}

CommandResult TestNetwork::in_host(const std::vector<std::string>& argv,
                                   std::chrono::milliseconds timeout,
                                   const std::string& input) const {
  std::vector<std::string> full = enter_netns(host_);
  full.insert(full.end(), argv.begin(), argv.end());
  return run(full, timeout, input);
}

CommandResult TestNetwork::in_upstream(const std::vector<std::string>& argv,
                                       std::chrono::milliseconds timeout) const {
  std::vector<std::string> full = {"ip", "netns", "exec", upstream_};
  full.insert(full.end(), argv.begin(), argv.end());
  return run(full, timeout);
}

CommandResult TestNetwork::sh_host(const std::string& script) const {
  return in_host({"/bin/sh", "-c", script});
}

CommandResult TestNetwork::sh_upstream(const std::string& script) const {
  return in_upstream({"/bin/sh", "-c", script});
}

void TestNetwork::spawn_upstream(const std::string& shell_command) const {
  sh("ip netns exec " + upstream_ + " setsid /bin/sh -c '" + shell_command +
     "' </dev/null >/dev/null 2>&1 &");
}

void TestNetwork::spawn_host(const std::string& shell_command) const {
  sh("nsenter --net=/run/netns/" + host_ + " setsid /bin/sh -c '" + shell_command +
     "' </dev/null >/dev/null 2>&1 &");
}

std::vector<std::string> nucleus_in(const std::string& ns, const std::vector<std::string>& args) {
  std::vector<std::string> full = enter_netns(ns);
  full.push_back(nucleus_binary());
  full.insert(full.end(), args.begin(), args.end());
  return full;
}

}  // namespace nucleus::testing
