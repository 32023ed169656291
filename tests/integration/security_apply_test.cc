// Root: the child-side apply functions really restrict a process. Each check runs in a forked
// child (in its own throwaway network namespace) that reports through its exit status, exactly
// like the sandbox child: the plan is prepared in the parent, applied after fork.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/security/caps.h"
#include "core/security/landlock.h"
#include "core/security/seccomp.h"
#include "core/security/seccomp_trace.h"

namespace nucleus::security {
namespace {

// Forks; the child enters a new netns, runs `fn` and exits with its result. Returns the raw
// wait status.
int run_child(const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWNET) != 0) ::_exit(200);
    ::_exit(fn());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status); }

std::uint64_t status_field(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key + ":")) return std::stoull(line.substr(key.size() + 1), nullptr, 16);
  }
  return ~0ULL;
}

class Security : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
};

TEST_F(Security, DropAllCapabilitiesEmptiesEverySet) {
  auto plan = prepare_caps(std::nullopt);
  ASSERT_TRUE(plan);
  ASSERT_NE(status_field("CapEff"), 0U);  // we start as real root
  int status = run_child([&] {
    if (apply_caps(*plan) != 0) return 1;
    for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
      if (status_field(set) != 0) return 2;
    }
    // And it matters: root without CAP_SYS_ADMIN/CAP_NET_ADMIN cannot remount or chown.
    if (::sethostname("x", 1) == 0) return 3;
    return set_no_new_privs() == 0 ? 0 : 4;
  });
  EXPECT_EQ(exit_code(status), 0);
  EXPECT_EQ(exit_code(run_child([] { return drop_all_capabilities() == 0 && status_field("CapBnd") == 0 ? 0 : 1; })), 0);
}

TEST_F(Security, CapsPolicyKeepsOnlyListedCapabilities) {
  auto policy = parse_caps_policy("keep = [\"NET_BIND_SERVICE\", \"chown\"]");
  ASSERT_TRUE(policy);
  auto plan = prepare_caps(*policy);
  ASSERT_TRUE(plan);
  const std::uint64_t want = (1ULL << CAP_NET_BIND_SERVICE) | (1ULL << CAP_CHOWN);
  int status = run_child([&] {
    if (apply_caps(*plan) != 0) return 1;
    for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
      if (status_field(set) != want) return 2;
    }
    return 0;
  });
  EXPECT_EQ(exit_code(status), 0);
}

SeccompProgram build(bool network, SeccompMode mode = SeccompMode::kEnforce) {
  SeccompOptions options;
  options.network = network;
  options.mode = mode;
  auto program = build_seccomp(options);
  EXPECT_TRUE(program) << program.error().message();
  return program ? *program : SeccompProgram{};
}

TEST_F(Security, SeccompDeniesEscapesButAllowsNormalWork) {
  SeccompProgram program = build(/*network=*/false);
  int status = run_child([&] {
    if (set_no_new_privs() != 0 || install_seccomp(program) != 0) return 1;
    errno = 0;
    if (::unshare(CLONE_NEWUSER) != -1 || errno != EPERM) return 2;
    if (::socket(AF_NETLINK, SOCK_RAW, 0) != -1 || errno != EAFNOSUPPORT) return 3;
    if (::socket(AF_INET, SOCK_STREAM, 0) != -1 || errno != EAFNOSUPPORT) return 4;
    int unix_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (unix_fd < 0) return 5;
    ::close(unix_fd);
    if (::syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) return 6;
    if (::syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0) != -1 || errno != EPERM) return 7;
    if (::mount("none", "/mnt", "tmpfs", 0, nullptr) != -1 || errno != EPERM) return 8;
    char c = 'x';
    if (::ioctl(0, TIOCSTI, &c) != -1 || errno != EPERM) return 9;
    if (::syscall(SYS_ptrace, 0, 0, 0, 0) != -1 || errno != EPERM) return 10;
    // Ordinary work: fork (glibc falls back from clone3 to clone), pipes, files.
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0 || ::write(fds[1], "ok", 2) != 2) return 11;
    pid_t pid = ::fork();
    if (pid < 0) return 12;
    if (pid == 0) ::_exit(7);
    int st = 0;
    if (::waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 7) return 13;
    struct utsname u{};
    if (::uname(&u) != 0) return 14;
    return 0;
  });
  EXPECT_EQ(exit_code(status), 0);
}

TEST_F(Security, SeccompNetworkModeAllowsInetButNeverPacket) {
  SeccompProgram program = build(/*network=*/true);
  int status = run_child([&] {
    if (set_no_new_privs() != 0 || install_seccomp(program) != 0) return 1;
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 2;
    ::close(fd);
    fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 3;
    ::close(fd);
    if (::socket(AF_PACKET, SOCK_RAW, 0) != -1 || errno != EAFNOSUPPORT) return 4;
    if (::socket(AF_NETLINK, SOCK_RAW, 0) != -1 || errno != EAFNOSUPPORT) return 5;
    // High bits set on the family must not sneak past the comparison.
    if (::syscall(SYS_socket, (1UL << 32) | AF_NETLINK, SOCK_RAW, 0) != -1) return 6;
    return 0;
  });
  EXPECT_EQ(exit_code(status), 0);
}

TEST_F(Security, SeccompKillsUnknownSyscallsAndForeignAbis) {
  SeccompProgram program = build(false);
  int unknown = run_child([&] {
    if (set_no_new_privs() != 0 || install_seccomp(program) != 0) return 1;
    ::syscall(SYS_io_setup, 1, nullptr);  // in no list: default action
    return 0;
  });
  EXPECT_EQ(exit_code(unknown), -SIGSYS);
  int x32 = run_child([&] {
    if (set_no_new_privs() != 0 || install_seccomp(program) != 0) return 1;
    ::syscall(SYS_getpid | 0x40000000);  // x32 ABI
    return 0;
  });
  EXPECT_EQ(exit_code(x32), -SIGSYS);
}

TEST_F(Security, SeccompTraceRecordsEverySyscall) {
  SeccompProgram program = build(false, SeccompMode::kTrace);
  ASSERT_TRUE(program.listener);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (set_no_new_privs() != 0 || install_seccomp(program) < 0) ::_exit(1);
    // Every syscall below waits for the supervisor's answer.
    struct utsname u{};
    ::uname(&u);
    ::getppid();
    if (::unshare(CLONE_NEWNS) != -1 || errno != EPERM) ::_exit(2);  // still denied
    ::_exit(0);
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  ASSERT_GE(pidfd, 0);
  auto tracer = SeccompTracer::attach(pidfd, pid, std::chrono::seconds(20));
  ASSERT_TRUE(tracer) << tracer.error().message();
  int status = 0;
  bool reaped = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!(reaped && tracer->done()) && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{tracer->fd(), POLLIN, 0};
    ::poll(&pfd, 1, 100);
    auto handled = tracer->handle_one();
    ASSERT_TRUE(handled) << handled.error().message();
    if (!reaped && ::waitpid(pid, &status, WNOHANG) == pid) reaped = true;
  }
  ::close(pidfd);
  ASSERT_TRUE(reaped);
  EXPECT_EQ(exit_code(status), 0);
  auto seen = tracer->syscalls();
  for (const char* name : {"uname", "getppid", "exit_group"}) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), name), seen.end()) << name;
  }
  EXPECT_EQ(std::find(seen.begin(), seen.end(), "unshare"), seen.end());  // denied, not traced
}

class LandlockTest : public Security {
 protected:
  void SetUp() override {
    Security::SetUp();
    if (IsSkipped()) return;
    if (landlock_abi_version() < 1) GTEST_SKIP() << "Landlock not enabled";
    dir_ = "/tmp/nucleus-landlock-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_ + "/allowed");
    std::filesystem::create_directories(dir_ + "/denied");
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(LandlockTest, OnlyListedPathsAreReachable) {
  LandlockPolicy policy;
  policy.replace_defaults = true;
  policy.paths = {{dir_ + "/allowed", LandlockAccess::kReadWrite},
                  {"/nonexistent-nucleus-path", LandlockAccess::kReadWrite}};
  LandlockOptions options;
  options.workspace = WorkspaceAccess::kNone;
  options.policy = policy;
  auto plan = prepare_landlock(options, landlock_abi_version());
  ASSERT_TRUE(plan) << plan.error().message();
  std::string ok_file = dir_ + "/allowed/f";
  std::string bad_file = dir_ + "/denied/f";
  int status = run_child([&] {
    if (set_no_new_privs() != 0) return 1;
    if (apply_landlock(*plan) != 0) return 2;
    int fd = ::open(ok_file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, "x", 1) != 1) return 3;
    ::close(fd);
    if (::open(bad_file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600) != -1 || errno != EACCES) {
      return 4;
    }
    if (::open("/etc/hostname", O_RDONLY | O_CLOEXEC) != -1 || errno != EACCES) return 5;
    return 0;
  });
  EXPECT_EQ(exit_code(status), 0);
  EXPECT_TRUE(std::filesystem::exists(ok_file));
  EXPECT_FALSE(std::filesystem::exists(bad_file));
}

TEST_F(LandlockTest, DefaultPlanKeepsSystemReadOnlyEvenForRoot) {
  auto plan = prepare_landlock(LandlockOptions{}, landlock_abi_version());
  ASSERT_TRUE(plan);
  int status = run_child([&] {
    if (set_no_new_privs() != 0 || apply_landlock(*plan) != 0) return 1;
    if (::open("/etc/passwd", O_RDONLY | O_CLOEXEC) < 0) return 2;
    if (::open("/etc/nucleus-landlock-probe", O_CREAT | O_WRONLY | O_CLOEXEC, 0600) != -1 ||
        errno != EACCES) {
      return 3;
    }
    if (::open("/usr/bin/true", O_WRONLY | O_CLOEXEC) != -1 || errno != EACCES) return 4;
    pid_t pid = ::fork();
    if (pid == 0) {
      char* argv[] = {const_cast<char*>("true"), nullptr};
      ::execv("/bin/true", argv);
      ::_exit(99);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return 5;
    int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, "x", 1) != 1) return 6;
    return 0;
  });
  EXPECT_EQ(exit_code(status), 0);
  EXPECT_FALSE(std::filesystem::exists("/etc/nucleus-landlock-probe"));
}

}  // namespace
}  // namespace nucleus::security
