// The seccomp cache returns exactly what a fresh compile returns, keys on the options, and
// ignores entries it must not trust.
#include "core/security/seccomp_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace nucleus::security {
namespace {

namespace stdfs = std::filesystem;

bool same(const SeccompProgram& a, const SeccompProgram& b) {
  if (a.filter.size() != b.filter.size() || a.listener != b.listener) return false;
  for (size_t i = 0; i < a.filter.size(); ++i)
    if (a.filter[i].code != b.filter[i].code || a.filter[i].k != b.filter[i].k ||
        a.filter[i].jt != b.filter[i].jt || a.filter[i].jf != b.filter[i].jf)
      return false;
  return true;
}

class SeccompCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nucleus-seccomp-cache-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { stdfs::remove_all(dir_); }
  size_t entries() const {
    return std::distance(stdfs::directory_iterator(dir_), stdfs::directory_iterator());
  }
  std::string dir_;
};

TEST_F(SeccompCacheTest, HitEqualsFreshCompileAndKeysOnOptions) {
  SeccompOptions none, net;
  net.network = true;
  auto fresh = build_seccomp(none);
  ASSERT_TRUE(fresh);
  auto first = build_seccomp_cached(none, dir_);
  auto second = build_seccomp_cached(none, dir_);
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(same(*fresh, *first));
  EXPECT_TRUE(same(*fresh, *second));
  EXPECT_EQ(entries(), 1u);
  auto with_net = build_seccomp_cached(net, dir_);
  ASSERT_TRUE(with_net);
  EXPECT_EQ(entries(), 2u);
  EXPECT_FALSE(same(*with_net, *first));
}

TEST_F(SeccompCacheTest, UntrustedEntryIsIgnored) {
  SeccompOptions none;
  ASSERT_TRUE(build_seccomp_cached(none, dir_));
  auto entry = stdfs::directory_iterator(dir_)->path();
  // Corrupt it and make it group-writable: it must not be used.
  { std::ofstream(entry, std::ios::binary | std::ios::trunc) << std::string(8, '\0'); }
  chmod(entry.c_str(), 0660);
  auto program = build_seccomp_cached(none, dir_);
  ASSERT_TRUE(program);
  auto fresh = build_seccomp(none);
  EXPECT_TRUE(same(*program, *fresh));
}

}  // namespace
}  // namespace nucleus::security
