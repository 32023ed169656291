// Root tests of the native sandbox core (issue 2): namespaces, PID 1, hostname, env, exit codes,
// signals, no leaked fds, state files.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/sandbox_fixture.h"

namespace nucleus::testing {
namespace {

using namespace std::chrono_literals;

std::string own_ns(const std::string& kind) {
  return std::filesystem::read_symlink("/proc/self/ns/" + kind).string();
}

TEST_F(SandboxTest, RunsCommandAndReturnsItsExitCode) {
  auto r = nucleus({"run", "--", "/bin/sh", "-c", "echo hello; exit 7"});
  EXPECT_EQ(r.status, 7) << r.err;
  EXPECT_EQ(r.out, "hello\n");
}

TEST_F(SandboxTest, KilledBySignalGives128PlusSignal) {
  // PID 1 cannot signal itself to death (the kernel protects a namespace's init from its own
  // namespace), so the signal comes from outside, through `nucleus kill` (default KILL).
  Spawned run(nucleus_argv({"run", "--name", "victim", "--", "sleep", "600"}));
  ASSERT_TRUE(eventually([&] {
    return nucleus({"state", "victim", "--format", "json"}).out.find("\"running\"") != std::string::npos;
  }));
  EXPECT_EQ(nucleus({"kill", "victim"}).status, 0);
  auto r = run.wait(std::chrono::seconds(20));
  EXPECT_EQ(r.status, 128 + SIGKILL) << r.err;
  EXPECT_EQ(nucleus({"kill", "victim", "NOTASIGNAL"}).status, 125);
}

TEST_F(SandboxTest, CommandNotFoundIs127) {
  auto r = nucleus({"run", "--", "definitely-not-a-command"});
  EXPECT_EQ(r.status, 127);
  EXPECT_NE(r.err.find("definitely-not-a-command"), std::string::npos) << r.err;
  EXPECT_TRUE(leftover_sandboxes().empty());
}

TEST_F(SandboxTest, WorkloadIsPid1InFreshNamespaces) {
  auto r = nucleus({"run", "--", "/bin/sh", "-c",
                    "echo $$; for n in pid mnt net uts ipc cgroup; do readlink /proc/self/ns/$n; done"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "1");
  for (const char* ns : {"pid", "mnt", "net", "uts", "ipc", "cgroup"}) {
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_NE(line, own_ns(ns)) << ns << " namespace is shared with the host";
  }
}

TEST_F(SandboxTest, TimeNamespaceOnRequest) {
  auto without = nucleus({"run", "--", "readlink", "/proc/self/ns/time"});
  auto with = nucleus({"run", "--time-namespace", "--", "readlink", "/proc/self/ns/time"});
  ASSERT_EQ(with.status, 0) << with.err;
  EXPECT_EQ(first_line(without.out), own_ns("time"));
  EXPECT_NE(first_line(with.out), own_ns("time"));
}

TEST_F(SandboxTest, HostnameAndEnvironment) {
  setenv("NUCLEUS_TEST_SECRET", "leak", 1);
  setenv("NUCLEUS_TEST_PASS", "passed", 1);
  auto r = nucleus({"run", "--hostname", "box1", "-e", "FOO=bar baz", "-e", "NUCLEUS_TEST_PASS",
                    "--", "/bin/sh", "-c",
                    "hostname; echo \"$FOO\"; echo \"$NUCLEUS_TEST_PASS\"; "
                    "echo \"${NUCLEUS_TEST_SECRET:-unset}\"; echo $HOME"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "box1\nbar baz\npassed\nunset\n/home/agent\n");
}

TEST_F(SandboxTest, NoHostFileDescriptorsLeak) {
  // Deliberately not CLOEXEC: nucleus inherits it and must not hand it to the workload.
  int leaked = open("/etc/hostname", O_RDONLY);
  ASSERT_GE(leaked, 0);
  auto r = nucleus({"run", "-v", probe_binary() + ":/probe:ro", "--", "/probe"});
  close(leaked);
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(first_line(r.out));
  std::vector<int> fds;
  for (const auto& fd : j["fds"]) fds.push_back(fd["fd"].get<int>());
  EXPECT_EQ(fds, (std::vector<int>{0, 1, 2})) << r.out;
  EXPECT_EQ(j["pid"], 1);
}

TEST_F(SandboxTest, RootFilesystemIsMinimalAndReadOnly) {
  auto r = nucleus({"run", "--", "/bin/sh", "-c",
                    "test -e /etc/shadow && echo shadow; "
                    "ls /etc | tr '\\n' ' '; echo; "
                    "touch /usr/x 2>/dev/null && echo usr-writable; "
                    "touch /x 2>/dev/null && echo root-writable; "
                    "touch /tmp/x && echo tmp-ok; touch /home/agent/x && echo home-ok; "
                    "stat -c %a /home/agent; "
                    "cat /proc/kcore 2>/dev/null | head -c 1 | wc -c; "
                    "echo x > /proc/sys/kernel/hostname 2>/dev/null && echo proc-writable; "
                    "ls /dev | tr '\\n' ' '"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("shadow"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("writable"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tmp-ok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("home-ok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n700\n0\n"), std::string::npos) << r.out;
  for (const char* dev : {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm"})
    EXPECT_NE(r.out.find(dev), std::string::npos) << dev << " missing from /dev: " << r.out;
}

// The default root's /etc is written by the child into its tmpfs root, then sealed read-only:
// readable by a non-root workload whatever nucleus's umask, never writable; the workload itself
// runs with the caller's umask.
TEST_F(SandboxTest, GeneratedEtcIsReadableWhateverTheUmaskAndReadOnly) {
  mode_t old_mask = umask(077);
  auto r = nucleus({"run", "--user", "1000:1000", "--hostname", "etc-check", "--", "/bin/sh",
                    "-c",
                    "stat -c '%a %n' /etc/passwd /etc/hosts /etc/resolv.conf; cat /etc/hostname; "
                    "grep -c agent /etc/passwd; touch /etc/x 2>/dev/null && echo etc-writable; "
                    "echo > /etc/hosts 2>/dev/null && echo hosts-writable; umask"});
  umask(old_mask);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("644 /etc/passwd\n644 /etc/hosts\n644 /etc/resolv.conf\netc-check\n1\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("writable"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n0077\n"), std::string::npos) << "the workload keeps our umask: " << r.out;
}

// A step of the child's root that fails is reported (exit 125, step and path named) even though
// the child builds its root before the parent's go, and nothing is left behind.
TEST_F(SandboxTest, ChildSetupFailureIsReportedAndLeavesNothing) {
  auto r = nucleus({"run", "-v", "/etc/hostname:/data", "-v", "/etc/hosts:/data/x", "--",
                    "/bin/true"});
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.err.find("create mount point"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/data/x: Not a directory"), std::string::npos) << r.err;
  EXPECT_TRUE(leftover_sandboxes().empty()) << r.err;
}

TEST_F(SandboxTest, ForwardsSigtermToWorkloadWithHandler) {
  Spawned run(nucleus_argv({"run", "--name", "trap", "--", "/bin/sh", "-c",
                            "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"}));
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(state_root_ + "/sandboxes/trap/state.json") &&
                                      nucleus({"state", "trap", "--format", "json"}).out.find("\"running\"") != std::string::npos; }));
  run.signal(SIGTERM);
  auto r = run.wait(20s);
  EXPECT_EQ(r.status, 42) << r.err;
  EXPECT_TRUE(leftover_sandboxes().empty());
}

TEST_F(SandboxTest, WorkloadIgnoringSigtermIsKilledAfterStopTimeout) {
  // sleep as PID 1 has no handler: the kernel drops SIGTERM sent from outside the namespace.
  Spawned run(nucleus_argv({"run", "--name", "stubborn", "--stop-timeout", "1", "--", "sleep", "600"}));
  ASSERT_TRUE(eventually([&] {
    return nucleus({"state", "stubborn", "--format", "json"}).out.find("\"running\"") != std::string::npos;
  }));
  run.signal(SIGINT);
  auto r = run.wait(30s);
  EXPECT_EQ(r.status, 128 + SIGKILL) << r.err;
}

TEST_F(SandboxTest, StateIsRecordedWhileRunningAndRemovedAfter) {
  Spawned run(nucleus_argv({"run", "--name", "stateful", "--", "sleep", "600"}));
  nlohmann::json state;
  ASSERT_TRUE(eventually([&] {
    auto r = nucleus({"state", "stateful", "--format", "json"});
    if (r.status != 0) return false;
    state = nlohmann::json::parse(r.out, nullptr, false);
    return state.is_object() && state["status"] == "running";
  }));
  EXPECT_EQ(state["id"], "stateful");
  int pid = state["pid"].get<int>();
  EXPECT_GT(pid, 0);
  auto listed = nucleus({"state", "-a"});
  EXPECT_NE(listed.out.find("stateful"), std::string::npos);

  EXPECT_EQ(nucleus({"kill", "stateful", "TERM"}).status, 0);  // ignored by PID 1 sleep
  EXPECT_EQ(nucleus({"stop", "stateful", "-t", "1"}).status, 0);
  auto r = run.wait(30s);
  EXPECT_EQ(r.status, 128 + SIGKILL);
  EXPECT_TRUE(leftover_sandboxes().empty());
  EXPECT_NE(nucleus({"state", "stateful"}).status, 0);
}

TEST_F(SandboxTest, SandboxDiesWithNucleusAndGcCleansUp) {
  Spawned run(nucleus_argv({"run", "--name", "orphan", "--", "sleep", "600"}));
  nlohmann::json state;
  ASSERT_TRUE(eventually([&] {
    auto r = nucleus({"state", "orphan", "--format", "json"});
    state = nlohmann::json::parse(r.out, nullptr, false);
    return state.is_object() && state["status"] == "running";
  }));
  int workload = state["pid"].get<int>();
  int supervisor = state["supervisor"]["pid"].get<int>();
  kill(supervisor, SIGKILL);
  run.wait(10s);
  EXPECT_TRUE(eventually([&] { return kill(workload, 0) != 0; })) << "workload outlived nucleus";
  auto listed = nucleus({"state", "orphan", "--format", "json"});
  EXPECT_NE(listed.out.find("\"dead\""), std::string::npos) << listed.out;
  EXPECT_EQ(nucleus({"gc"}).status, 0);
  EXPECT_TRUE(leftover_sandboxes().empty());
}

TEST_F(SandboxTest, DeleteRefusesARunningSandboxAndForceRemovesIt) {
  Spawned run(nucleus_argv({"run", "--name", "doomed", "--", "sleep", "600"}));
  ASSERT_TRUE(eventually([&] {
    return nucleus({"state", "doomed", "--format", "json"}).out.find("\"running\"") != std::string::npos;
  }));
  auto refused = nucleus({"delete", "doomed"});
  EXPECT_EQ(refused.status, 125);
  EXPECT_NE(refused.err.find("still running"), std::string::npos) << refused.err;
  EXPECT_EQ(nucleus({"delete", "-f", "doomed"}).status, 0);
  EXPECT_EQ(run.wait(std::chrono::seconds(20)).status, 128 + SIGKILL);
  EXPECT_TRUE(leftover_sandboxes().empty());
  EXPECT_NE(nucleus({"delete", "doomed"}).status, 0);  // gone: nothing to delete
}

TEST_F(SandboxTest, DuplicateNameIsRefused) {
  Spawned first(nucleus_argv({"run", "--name", "twin", "--", "sleep", "600"}));
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(state_root_ + "/sandboxes/twin"); }));
  auto second = nucleus({"run", "--name", "twin", "--", "true"});
  EXPECT_EQ(second.status, 125);
  EXPECT_NE(second.err.find("--name"), std::string::npos) << second.err;
  first.signal(SIGKILL);
}

}  // namespace
}  // namespace nucleus::testing
