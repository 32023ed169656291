// Throwaway network namespaces for root tests (see ../shared/design/TESTING.md).
//
// TestNetwork makes two namespaces joined by a veth pair:
//   host      198.51.100.1/24, 2001:db8:100::1/64   plays the machine nucleus runs on
//   upstream  198.51.100.2/24, 2001:db8:100::2/64   plays the internet; its loopback also holds
//             203.0.113.10-13/32 and 2001:db8:113::10-13/128 for upstream services.
// The host's default routes point at upstream. Both namespaces are deleted in the destructor, which
// also kills every process still inside them, so a failing test leaves nothing behind.
#pragma once

#include <string>
#include <vector>

#include "tests/support/command.h"

namespace nucleus::testing {

class TestNetwork {
 public:
  TestNetwork();
  ~TestNetwork();
  TestNetwork(const TestNetwork&) = delete;
  TestNetwork& operator=(const TestNetwork&) = delete;

  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] const std::string& host() const { return host_; }
  [[nodiscard]] const std::string& upstream() const { return upstream_; }

  // Runs argv inside the host / upstream namespace (via `ip netns exec`).
  CommandResult in_host(const std::vector<std::string>& argv,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60),
                        const std::string& input = {}) const;
  CommandResult in_upstream(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // Runs a shell script in the namespace.
  CommandResult sh_host(const std::string& script) const;
  CommandResult sh_upstream(const std::string& script) const;

  // Starts a background program in the upstream namespace; it dies with the namespace.
  void spawn_upstream(const std::string& shell_command) const;
  void spawn_host(const std::string& shell_command) const;

 private:
  std::string host_;
  std::string upstream_;
  bool ok_ = false;
};

// The argv prefix that runs a program in network namespace `ns` (and nothing else changed).
std::vector<std::string> enter_netns(const std::string& ns);

// Runs `nucleus ARGS...` inside `ns` with a private state dir under /run/nucleus-test-*.
std::vector<std::string> nucleus_in(const std::string& ns, const std::vector<std::string>& args);

}  // namespace nucleus::testing
