// Root: the detected driver (v1 on hybrid hosts, v2 elsewhere) really enforces limits, reports
// OOM kills and leaves nothing behind. Each workload is a forked child (in its own throwaway
// network namespace) that is moved into the cgroup before it is released, like the sandbox child.
#include <fcntl.h>
#include <glob.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "core/cgroup/cgroup.h"

namespace nucleus::cgroup {
namespace {

// A child blocked on a pipe until release(): the parent moves it into the cgroup first.
class HeldChild {
 public:
  explicit HeldChild(std::function<int()> body) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[1]);
      char c;
      if (::read(fds[0], &c, 1) != 1) ::_exit(100);
      if (::unshare(CLONE_NEWNET) != 0) ::_exit(101);
      ::_exit(body());
    }
    ::close(fds[0]);
    release_fd_ = fds[1];
  }
  ~HeldChild() {
    if (release_fd_ >= 0) ::close(release_fd_);
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  void release() {
    (void)!::write(release_fd_, "go", 1);
    ::close(release_fd_);
    release_fd_ = -1;
  }
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int release_fd_ = -1;
  bool reaped_ = false;
};

std::vector<std::string> leftovers(const std::string& name) {
  std::vector<std::string> out;
  for (const char* pattern : {"/sys/fs/cgroup/*/", "/sys/fs/cgroup/"}) {
    glob_t g{};
    std::string p = std::string(pattern) + name;
    if (::glob(p.c_str(), 0, nullptr, &g) == 0) {
      for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
    }
    ::globfree(&g);
  }
  return out;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class CgroupLimits : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    auto version = detect_version(Config{});
    if (!version) GTEST_SKIP() << version.error().message();
    id_ = "itest-" + std::to_string(::getpid()) + "-" +
          ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  void TearDown() override {
    if (!id_.empty()) {
      EXPECT_TRUE(leftovers("nucleus-" + id_).empty());
    }
  }
  std::string id_;
};

TEST_F(CgroupLimits, PidsLimitStopsForkAndDestroyKillsTheRest) {
  Limits limits;
  limits.pids = 20;
  auto cg = Cgroup::create(id_, limits);
  ASSERT_TRUE(cg) << cg.error().message();
  HeldChild child([] {
    int forked = 0;
    for (int i = 0; i < 40; ++i) {
      pid_t p = ::fork();
      if (p < 0) break;
      if (p == 0) {
        ::pause();  // stays in the cgroup until destroy() kills it
        ::_exit(0);
      }
      ++forked;
    }
    return forked;
  });
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(cg->add_process(child.pid()));
  child.release();
  int status = child.wait();
  ASSERT_TRUE(WIFEXITED(status));
  // 20 tasks in total: the child itself and at most 19 forks.
  EXPECT_EQ(WEXITSTATUS(status), 19);
  std::string procs_file = cg->paths().back() + "/cgroup.procs";
  EXPECT_FALSE(read(procs_file).empty());  // the paused grandchildren are still there
  auto destroyed = cg->destroy();
  ASSERT_TRUE(destroyed) << destroyed.error().message();
  for (const auto& path : cg->paths()) EXPECT_FALSE(std::filesystem::exists(path)) << path;
}

TEST_F(CgroupLimits, MemoryHogIsOomKilledAndReported) {
  Limits limits;
  limits.memory_bytes = 64ULL << 20;
  auto cg = Cgroup::create(id_, limits);
  ASSERT_TRUE(cg) << cg.error().message();
  HeldChild child([] {
    // Touch 512 MiB page by page; the cgroup allows 64 MiB and no swap.
    constexpr std::size_t kSize = 512ULL << 20;
    void* p = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    std::memset(p, 1, kSize);
    return 0;
  });
  ASSERT_TRUE(cg->add_process(child.pid()));
  EXPECT_EQ(cg->oom_killed(), false);
  child.release();
  int status = child.wait();
  ASSERT_TRUE(WIFSIGNALED(status)) << "hog exited with " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool reported = false;
  while (!reported && std::chrono::steady_clock::now() < deadline) {
    auto oom = cg->oom_killed();
    ASSERT_TRUE(oom) << oom.error().message();
    reported = *oom;
    if (!reported) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(reported);
  ASSERT_TRUE(cg->destroy());
}

TEST_F(CgroupLimits, CpuSettingsReachTheKernel) {
  Limits limits;
  limits.cpus = 0.5;
  limits.cpu_weight = 100;
  auto cg = Cgroup::create(id_, limits);
  ASSERT_TRUE(cg) << cg.error().message();
  if (cg->version() == Version::kV2) {
    EXPECT_EQ(read(cg->paths()[0] + "/cpu.max"), "50000 100000\n");
    EXPECT_EQ(read(cg->paths()[0] + "/cpu.weight"), "100\n");
  } else {
    // No memory limit, so no memory hierarchy: cpu, then pids.
    ASSERT_EQ(cg->paths().size(), 2U);
    EXPECT_EQ(read(cg->paths()[0] + "/cpu.cfs_quota_us"), "50000\n");
    EXPECT_EQ(read(cg->paths()[0] + "/cpu.shares"), std::to_string(weight_to_shares(100)) + "\n");
    EXPECT_EQ(read(cg->paths()[1] + "/pids.max"), "512\n");
  }
  ASSERT_TRUE(cg->destroy());
}

TEST_F(CgroupLimits, JournalUndoRemovesAnAbandonedCgroup) {
  std::string journal_path = ::testing::TempDir() + "cg-journal-" + std::to_string(::getpid());
  std::filesystem::remove(journal_path);
  {
    auto journal = Journal::open(journal_path);
    ASSERT_TRUE(journal);
    auto cg = Cgroup::create(id_, Limits{}, Config{}, &*journal);
    ASSERT_TRUE(cg);
    HeldChild child([] { return 0; });
    ASSERT_TRUE(cg->add_process(child.pid()));
    // Simulate a supervisor crash: the object is never destroyed (no destroy, no destructor).
    union Abandoned {
      Abandoned() {}
      ~Abandoned() {}
      Cgroup cgroup;
    } abandoned;
    new (&abandoned.cgroup) Cgroup(std::move(*cg));
  }
  ASSERT_FALSE(leftovers("nucleus-" + id_).empty());
  auto pending = Journal::pending(journal_path);
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 1U);
  auto undone = undo_journal_entry((*pending)[0]);
  ASSERT_TRUE(undone) << undone.error().message();
  EXPECT_TRUE(undo_journal_entry((*pending)[0]));  // already gone is fine
  std::filesystem::remove(journal_path);
}

}  // namespace
}  // namespace nucleus::cgroup
