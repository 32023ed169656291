#include "tests/support/sandbox_fixture.h"

#include <stdlib.h>

#include <filesystem>

namespace nucleus::testing {

void SandboxTest::SetUp() {
  net_ = std::make_unique<TestNetwork>();
  ASSERT_TRUE(net_->ok()) << "could not create test namespaces";
  char state[] = "/tmp/nucleus-test-state-XXXXXX";
  char scratch[] = "/tmp/nucleus-test-scratch-XXXXXX";
  ASSERT_NE(mkdtemp(state), nullptr);
  ASSERT_NE(mkdtemp(scratch), nullptr);
  state_root_ = state;
  scratch_ = scratch;
}

void SandboxTest::TearDown() {
  // Any sandbox a failed test left behind is cleaned before its namespaces go away.
  run({nucleus_binary(), "--root", state_root_, "gc"});
  net_.reset();
  std::error_code ec;
  std::filesystem::remove_all(state_root_, ec);
  std::filesystem::remove_all(scratch_, ec);
}

std::vector<std::string> SandboxTest::nucleus_argv(const std::vector<std::string>& args) const {
  std::vector<std::string> full = enter_netns(net_->host());
  for (const auto& a : {nucleus_binary(), std::string("--root"), state_root_}) full.push_back(a);
  full.insert(full.end(), args.begin(), args.end());
  return full;
}

CommandResult SandboxTest::nucleus(const std::vector<std::string>& args,
                                   std::chrono::milliseconds timeout) {
  return run(nucleus_argv(args), timeout);
}

std::vector<std::string> SandboxTest::leftover_sandboxes() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(state_root_ + "/sandboxes", ec))
    out.push_back(e.path().filename().string());
  return out;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace nucleus::testing
