// Small helpers for root tests that work on network namespaces directly (below nucleus run).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "core/base/fs.h"
#include "core/base/unique_fd.h"
#include "tests/support/command.h"

namespace nucleus::testing {

// Runs body on a thread inside namespace `ns` (so this process's main thread never moves).
template <typename Body>
void in_netns(const std::string& ns, Body body) {
  auto fd = fs::open_fd("/run/netns/" + ns, O_RDONLY);
  ASSERT_TRUE(fd) << fd.error().message();
  std::thread t([&] {
    ASSERT_EQ(setns(fd->get(), CLONE_NEWNET), 0);
    body();
  });
  t.join();
}

// A throwaway named namespace (lo up) standing in for a sandbox's; deleted even when the test
// fails. fd() is an open handle to it.
class NamedNetns {
 public:
  explicit NamedNetns(std::string name) : name_(std::move(name)) {
    ok_ = sh("ip netns add " + name_ + " && ip -n " + name_ + " link set lo up").status == 0;
    if (ok_) {
      auto fd = fs::open_fd("/run/netns/" + name_, O_RDONLY);
      if (fd) fd_ = std::move(*fd);
    }
  }
  ~NamedNetns() { remove(); }
  NamedNetns(const NamedNetns&) = delete;
  NamedNetns& operator=(const NamedNetns&) = delete;
  void remove() {
    fd_.reset();
    sh("ip netns del " + name_ + " 2>/dev/null");
  }
  [[nodiscard]] bool ok() const { return ok_ && fd_.valid(); }
  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  std::string name_;
  UniqueFd fd_;
  bool ok_ = false;
};

// `ip -n NS -j ARGS`, parsed.
inline nlohmann::json ip_json(const std::string& ns, const std::string& args) {
  auto r = sh("ip -n " + ns + " -j " + args);
  EXPECT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

}  // namespace nucleus::testing
