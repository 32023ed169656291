// Root tests of the CLI surface: bad input exits 125 with one line naming the flag, and leaves
// nothing behind; --help and --version work.
#include <filesystem>

#include "tests/support/sandbox_fixture.h"

namespace nucleus::testing {
namespace {

TEST_F(SandboxTest, BadInputExits125AndCreatesNothing) {
  struct Case {
    std::vector<std::string> args;
    std::string expect;  // must appear in stderr
  };
  std::vector<Case> cases = {
      {{"run", "/bin/true"}, "--"},
      {{"run", "--bogus", "--", "/bin/true"}, "--bogus"},
      {{"run", "--name", "../x", "--", "/bin/true"}, "--name"},
      {{"run", "--volume", "/tmp:data", "--", "/bin/true"}, "--volume"},
      {{"run", "--workspace", "rel", "--", "/bin/true"}, "--workspace"},
      {{"run", "--network", "host", "--", "/bin/true"}, "--allow-host-network"},
      {{"run", "--network", "bridge", "--subnet", "10.0.0.0/33", "--", "/bin/true"}, "--subnet"},
      {{"run", "--network", "bridge", "-p", "70000:80", "--", "/bin/true"}, "--publish"},
      {{"run", "--network", "bridge", "-p", "80:80/sctp", "--", "/bin/true"}, "--publish"},
      {{"run", "--network", "bridge", "-p", "80:80", "-p", "80:81", "--", "/bin/true"}, "--publish"},
      {{"run", "--network", "bridge", "--bridge", "abcdefghijklmnop", "--", "/bin/true"}, "--bridge"},
      {{"run", "--workspace-mode", "sync", "--", "/bin/true"}, "--workspace-mode"},
      // Each subcommand's flags are declared once it is seen (cli.cc): unknown, missing and
      // malformed ones are still refused, in a flag group too.
      {{"run", "--egress-bogus", "--", "/bin/true"}, "--egress-bogus"},
      {{"state", "--bogus"}, "--bogus"},
      {{"kill"}, "id is required"},
      {{"stop", "x", "-t", "soon"}, "--time"},
      {{"seccomp", "generate", "trace.log"}, "--output"},
  };
  auto links_before = net_->in_host({"ip", "-o", "link"}).out;
  for (const auto& c : cases) {
    auto r = nucleus(c.args);
    EXPECT_EQ(r.status, 125) << c.args[1] << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << "stderr: " << r.err;
    EXPECT_TRUE(r.out.empty());
  }
  EXPECT_TRUE(leftover_sandboxes().empty());
  EXPECT_EQ(net_->in_host({"ip", "-o", "link"}).out, links_before);
}

TEST_F(SandboxTest, HelpAndVersion) {
  auto help = nucleus({"run", "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--workspace-mode"), std::string::npos);
  EXPECT_NE(help.out.find("--publish"), std::string::npos);
  auto version = run({nucleus_binary(), "--version"});
  EXPECT_EQ(version.status, 0);
  EXPECT_NE(version.out.find("nucleus "), std::string::npos);
}

TEST_F(SandboxTest, RootlessRunMapsCallerToRoot) {
  // nobody has no XDG_RUNTIME_DIR; give it a state root it can write.
  std::string root = scratch_ + "/rootless-state";
  std::filesystem::create_directories(root);
  sh("chown 65534:65534 " + root + " && chmod 755 " + scratch_);
  auto r = net_->in_host({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          nucleus_binary(), "--root", root, "run", "--", "/bin/sh", "-c",
                          "id -u; cat /proc/self/uid_map | tr -s ' '; echo $$"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "0\n 0 65534 1\n1\n");
}

}  // namespace
}  // namespace nucleus::testing
