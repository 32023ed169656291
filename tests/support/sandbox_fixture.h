// Fixture for root tests that run real sandboxes: a throwaway network namespace pair to run
// nucleus in, a private state root and scratch directory, and helpers to run nucleus there.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/command.h"
#include "tests/support/netns.h"

namespace nucleus::testing {

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // `nucleus --root STATE run ARGS...` inside the throwaway host namespace.
  CommandResult nucleus(const std::vector<std::string>& args,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // The argv for the same, for Spawned.
  std::vector<std::string> nucleus_argv(const std::vector<std::string>& args) const;
  // Files under the state root other than the top-level folders (sandboxes/, ipam/ ...).
  std::vector<std::string> leftover_sandboxes() const;

  std::unique_ptr<TestNetwork> net_;
  std::string state_root_;
  std::string scratch_;  // a temp dir for workspaces and volumes
};

// Parses the probe's JSON line from a sandbox's stdout.
std::string first_line(const std::string& text);

}  // namespace nucleus::testing
