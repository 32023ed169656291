// cgroup value parsing and both drivers against a fake cgroupfs tree in a temp dir.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/base/journal.h"
#include "core/cgroup/cgroup.h"

namespace nucleus::cgroup {
namespace {

namespace stdfs = std::filesystem;

TEST(CgroupParse, MemoryFloor) {
  // The size forms themselves are base_number_test's; --memory adds its floor and its name.
  EXPECT_FALSE(parse_memory("1m"));
  EXPECT_EQ(parse_memory("64m"), 64ULL << 20);
  EXPECT_EQ(parse_memory("1.5g"), 3ULL << 29);
  auto bad = parse_memory("12q");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().operation, "--memory");
}

TEST(CgroupParse, CpusWeightPids) {
  EXPECT_DOUBLE_EQ(*parse_cpus("1.5"), 1.5);
  EXPECT_DOUBLE_EQ(*parse_cpus("2"), 2.0);
  EXPECT_DOUBLE_EQ(*parse_cpus("0.25"), 0.25);
  for (const char* bad : {"0", "0.001", "-1", "1e3", "abc", "", "5000"}) {
    EXPECT_FALSE(parse_cpus(bad)) << bad;
  }
  EXPECT_EQ(parse_cpu_weight("100"), 100U);
  EXPECT_FALSE(parse_cpu_weight("0"));
  EXPECT_FALSE(parse_cpu_weight("10001"));
  EXPECT_EQ(parse_pids("20"), 20U);
  EXPECT_FALSE(parse_pids("1"));
  EXPECT_FALSE(parse_pids("ten"));
}

TEST(CgroupParse, WeightToSharesMatchesRuncScale) {
  EXPECT_EQ(weight_to_shares(1), 2U);
  EXPECT_EQ(weight_to_shares(10000), 262144U);
  // Round trip through runc's shares->weight gives the weight back.
  for (std::uint32_t w : {1U, 50U, 100U, 500U, 9999U}) {
    std::uint64_t shares = weight_to_shares(w);
    EXPECT_EQ(1 + ((shares - 2) * 9999) / 262142, w) << w;
  }
}

class FakeTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "cgroupfs-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    stdfs::remove_all(root_);
    stdfs::create_directories(root_);
    config_.root = root_;
    config_.fake_tree = true;
  }
  void TearDown() override { stdfs::remove_all(root_); }

  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

  std::string root_;
  Config config_;
};

TEST_F(FakeTree, DetectsV2ByControllersAndV1ByHierarchies) {
  EXPECT_FALSE(detect_version(config_));
  write(root_ + "/cgroup.controllers", "cpuset cpu io memory\n");
  auto missing = detect_version(config_);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("pids"), std::string::npos);
  write(root_ + "/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  EXPECT_EQ(detect_version(config_), Version::kV2);

  stdfs::remove(root_ + "/cgroup.controllers");
  // Hybrid layout: a controller-less cgroup2 at unified/ next to v1 hierarchies.
  stdfs::create_directories(root_ + "/unified");
  write(root_ + "/unified/cgroup.controllers", "");
  stdfs::create_directories(root_ + "/memory");
  stdfs::create_directories(root_ + "/pids");
  EXPECT_EQ(detect_version(config_), Version::kV1);
}

TEST_F(FakeTree, V2WritesLimitsAndJournals) {
  write(root_ + "/cgroup.controllers", "cpu memory pids\n");
  std::string journal_path = root_ + "/journal";
  auto journal = Journal::open(journal_path);
  ASSERT_TRUE(journal);
  Limits limits;
  limits.memory_bytes = 100ULL << 20;
  limits.cpus = 1.5;
  limits.cpu_weight = 200;
  limits.pids = 64;
  auto cg = Cgroup::create("abc123", limits, config_, &*journal);
  ASSERT_TRUE(cg) << cg.error().message();
  EXPECT_EQ(cg->version(), Version::kV2);
  std::string dir = root_ + "/nucleus-abc123";
  ASSERT_EQ(cg->paths(), std::vector<std::string>{dir});
  EXPECT_EQ(read(root_ + "/cgroup.subtree_control"), "+memory +cpu +pids");
  EXPECT_EQ(read(dir + "/memory.max"), std::to_string(100ULL << 20));
  EXPECT_EQ(read(dir + "/memory.high"), std::to_string((100ULL << 20) / 10 * 9));
  EXPECT_EQ(read(dir + "/memory.swap.max"), "0");
  EXPECT_EQ(read(dir + "/memory.oom.group"), "1");
  EXPECT_EQ(read(dir + "/cpu.max"), "150000 100000");
  EXPECT_EQ(read(dir + "/cpu.weight"), "200");
  EXPECT_EQ(read(dir + "/pids.max"), "64");

  ASSERT_TRUE(cg->add_process(4242));
  EXPECT_EQ(read(dir + "/cgroup.procs"), "4242");

  auto pending = Journal::pending(journal_path);
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 1U);
  EXPECT_EQ((*pending)[0].kind, "cgroup");
  EXPECT_EQ((*pending)[0].key, "nucleus-abc123");

  write(dir + "/memory.events", "low 0\nhigh 3\nmax 5\noom 1\noom_kill 0\n");
  EXPECT_EQ(cg->oom_killed(), false);
  write(dir + "/memory.events", "low 0\nhigh 3\nmax 5\noom 1\noom_kill 1\n");
  EXPECT_EQ(cg->oom_killed(), true);

  ASSERT_TRUE(cg->destroy());
  EXPECT_FALSE(stdfs::exists(dir));
  EXPECT_TRUE(cg->destroy());  // idempotent
  pending = Journal::pending(journal_path);
  ASSERT_TRUE(pending);
  EXPECT_TRUE(pending->empty());
}

TEST_F(FakeTree, V2NestedParentDelegatesAtEveryLevel) {
  write(root_ + "/cgroup.controllers", "cpu memory pids\n");
  stdfs::create_directories(root_ + "/a/b");
  config_.parent = "a/b";
  auto cg = Cgroup::create("x", Limits{}, config_);
  ASSERT_TRUE(cg) << cg.error().message();
  EXPECT_EQ(read(root_ + "/cgroup.subtree_control"), "+memory +cpu +pids");
  EXPECT_EQ(read(root_ + "/a/cgroup.subtree_control"), "+memory +cpu +pids");
  EXPECT_EQ(read(root_ + "/a/b/cgroup.subtree_control"), "+memory +cpu +pids");
  EXPECT_EQ(read(root_ + "/a/b/nucleus-x/pids.max"), "512");  // default
  EXPECT_FALSE(stdfs::exists(root_ + "/a/b/nucleus-x/memory.max"));  // no --memory
}

TEST_F(FakeTree, V1WritesEachHierarchy) {
  for (const char* h : {"memory", "cpu,cpuacct", "pids"}) stdfs::create_directories(root_ + "/" + h);
  stdfs::create_directory_symlink("cpu,cpuacct", root_ + "/cpu");
  Limits limits;
  limits.memory_bytes = 64ULL << 20;
  limits.cpus = 0.5;
  limits.cpu_weight = 100;
  limits.pids = 20;
  auto cg = Cgroup::create("v1test", limits, config_);
  ASSERT_TRUE(cg) << cg.error().message();
  EXPECT_EQ(cg->version(), Version::kV1);
  ASSERT_EQ(cg->paths().size(), 3U);
  std::string mem = root_ + "/memory/nucleus-v1test";
  std::string cpu = root_ + "/cpu/nucleus-v1test";
  std::string pids = root_ + "/pids/nucleus-v1test";
  EXPECT_EQ(cg->paths(), (std::vector<std::string>{mem, cpu, pids}));
  EXPECT_EQ(read(mem + "/memory.limit_in_bytes"), std::to_string(64ULL << 20));
  EXPECT_EQ(read(mem + "/memory.memsw.limit_in_bytes"), std::to_string(64ULL << 20));
  EXPECT_EQ(read(mem + "/memory.swappiness"), "0");
  EXPECT_EQ(read(cpu + "/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(read(cpu + "/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(read(cpu + "/cpu.shares"), std::to_string(weight_to_shares(100)));
  EXPECT_EQ(read(pids + "/pids.max"), "20");
  ASSERT_TRUE(cg->add_process(77));
  for (const auto& p : cg->paths()) EXPECT_EQ(read(p + "/cgroup.procs"), "77");

  write(mem + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  EXPECT_EQ(cg->oom_killed(), true);
  ASSERT_TRUE(cg->destroy());
  for (const auto& p : {mem, cpu, pids}) EXPECT_FALSE(stdfs::exists(p)) << p;
}

// Hierarchies without a limit are left alone: agent mode's default (a pids limit only) costs
// one directory, not three.
TEST_F(FakeTree, V1UsesOnlyTheHierarchiesThatCarryALimit) {
  for (const char* h : {"memory", "cpu", "pids"}) stdfs::create_directories(root_ + "/" + h);
  auto cg = Cgroup::create("pidsonly", Limits{}, config_);
  ASSERT_TRUE(cg) << cg.error().message();
  std::string pids = root_ + "/pids/nucleus-pidsonly";
  EXPECT_EQ(cg->paths(), std::vector<std::string>{pids});
  EXPECT_EQ(cg->self_join_files(), std::vector<std::string>{pids + "/tasks"});
  EXPECT_EQ(read(pids + "/pids.max"), "512");
  EXPECT_FALSE(stdfs::exists(root_ + "/memory/nucleus-pidsonly"));
  EXPECT_FALSE(stdfs::exists(root_ + "/cpu/nucleus-pidsonly"));
  EXPECT_EQ(cg->oom_killed(), false);
  ASSERT_TRUE(cg->destroy());
  EXPECT_FALSE(stdfs::exists(pids));
}

TEST_F(FakeTree, DestructorRemovesAndUndoToleratesMissing) {
  write(root_ + "/cgroup.controllers", "cpu memory pids\n");
  {
    auto cg = Cgroup::create("gone", Limits{}, config_);
    ASSERT_TRUE(cg);
    Cgroup moved = std::move(*cg);
    EXPECT_TRUE(stdfs::exists(root_ + "/nucleus-gone"));
  }
  EXPECT_FALSE(stdfs::exists(root_ + "/nucleus-gone"));

  JournalEntry entry{"cgroup", "nucleus-zz",
                     {{"version", "v2"}, {"paths", {root_ + "/nucleus-zz"}}, {"fake", true}}};
  EXPECT_TRUE(undo_journal_entry(entry));  // never created
  JournalEntry evil{"cgroup", "nucleus-zz", {{"paths", {root_}}, {"fake", true}}};
  EXPECT_FALSE(undo_journal_entry(evil));  // refuses to remove anything not named after the key
  EXPECT_TRUE(stdfs::exists(root_));
}

TEST_F(FakeTree, CreateRejectsBadIdsAndExistingCgroups) {
  write(root_ + "/cgroup.controllers", "cpu memory pids\n");
  EXPECT_FALSE(Cgroup::create("../etc", Limits{}, config_));
  EXPECT_FALSE(Cgroup::create("", Limits{}, config_));
  stdfs::create_directories(root_ + "/nucleus-dup");
  EXPECT_FALSE(Cgroup::create("dup", Limits{}, config_));
}

}  // namespace
}  // namespace nucleus::cgroup
