// fs helpers: write_atomic creates and replaces files by name, atomically, leaving nothing else.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "core/base/fs.h"
#include "tests/support/temp_dir.h"

namespace nucleus::fs {
namespace {

namespace stdfs = std::filesystem;

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()); }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : stdfs::directory_iterator(dir_)) out.push_back(e.path().filename());
    return out;
  }
  nucleus::testing::TempDir scratch_{"nucleus-fs-test"};
  const std::string& dir_ = scratch_.path();
};

TEST_F(FsTest, WriteAtomicCreatesThenReplacesByName) {
  std::string path = dir_ + "/state.json";
  ASSERT_TRUE(write_atomic(path, "first", 0600));
  EXPECT_EQ(read_file(path).value_or(""), "first");
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);

  // A reader that opened the old file keeps reading it whole: the name moved, the file did not
  // change under it.
  auto reader = open_fd(path, O_RDONLY);
  ASSERT_TRUE(reader);
  ASSERT_TRUE(write_atomic(path, "second, longer", 0600));
  EXPECT_EQ(read_file(path).value_or(""), "second, longer");
  char buf[32] = {};
  EXPECT_EQ(pread(reader->get(), buf, sizeof buf, 0), 5);
  EXPECT_EQ(std::string(buf), "first");
  EXPECT_EQ(names(), std::vector<std::string>{"state.json"}) << "no temporary file left";
}

// Only a regular file is replaced: a directory given as the output path stays where it is.
TEST_F(FsTest, WriteAtomicNeverReplacesADirectory) {
  std::string path = dir_ + "/out";
  ASSERT_TRUE(stdfs::create_directory(path));
  EXPECT_FALSE(write_atomic(path, "x", 0644));
  EXPECT_TRUE(stdfs::is_directory(path));
  EXPECT_EQ(names(), std::vector<std::string>{"out"});
}

TEST_F(FsTest, WriteAtomicIntoAMissingDirectoryFailsAndLeavesNothing) {
  EXPECT_FALSE(write_atomic(dir_ + "/missing/state.json", "x", 0600));
  EXPECT_TRUE(names().empty());
}

}  // namespace
}  // namespace nucleus::fs
