// Root tests of workspaces, volumes and tmpfs mounts (issue 2).
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/support/sandbox_fixture.h"

namespace nucleus::testing {
namespace {

using namespace std::chrono_literals;
namespace stdfs = std::filesystem;

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class WorkspaceTest : public SandboxTest {
 protected:
  void SetUp() override {
    SandboxTest::SetUp();
    ws_ = scratch_ + "/ws";
    stdfs::create_directories(ws_ + "/sub");
    write(ws_ + "/keep.txt", "keep\n");
    write(ws_ + "/change.txt", "old\n");
    write(ws_ + "/delete.txt", "bye\n");
    write(ws_ + "/sub/nested.txt", "nested\n");
  }
  std::string ws_;
};

TEST_F(WorkspaceTest, BindRwWritesReachTheHost) {
  auto r = nucleus({"run", "--workspace", ws_, "--", "/bin/sh", "-c",
                    "pwd; echo new > /workspace/new.txt"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "/workspace\n");  // --workdir defaults to the workspace
  EXPECT_EQ(read(ws_ + "/new.txt"), "new\n");
}

TEST_F(WorkspaceTest, BindRoRefusesWritesWithEROFS) {
  auto r = nucleus({"run", "--workspace", ws_, "--workspace-mode", "bind-ro", "--", "/bin/sh",
                    "-c", "cat keep.txt; echo x > keep.txt"});
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(r.out, "keep\n");
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r.err;
  EXPECT_EQ(read(ws_ + "/keep.txt"), "keep\n");
}

TEST_F(WorkspaceTest, CopyInOutLeavesHostUntouchedUntilExitThenSyncs) {
  stdfs::create_directories(scratch_ + "/gate");
  Spawned run(nucleus_argv(
      {"run", "--name", "cio", "--workspace", ws_, "--workspace-mode", "copy-in-out", "-v",
       scratch_ + "/gate:/gate", "--", "/bin/sh", "-c",
       "echo new > new.txt && echo changed > change.txt && rm delete.txt && "
       "rm -r sub && mkdir -p made/deep && echo deep > made/deep/f && chmod 600 keep.txt && "
       "touch /gate/written && while [ ! -e /gate/go ]; do sleep 0.05; done"}));
  ASSERT_TRUE(eventually([&] { return stdfs::exists(scratch_ + "/gate/written"); }, 20s));
  // The workload has made all its changes; the host tree must not show any of them yet.
  EXPECT_FALSE(stdfs::exists(ws_ + "/new.txt"));
  EXPECT_EQ(read(ws_ + "/change.txt"), "old\n");
  EXPECT_TRUE(stdfs::exists(ws_ + "/delete.txt"));
  EXPECT_TRUE(stdfs::exists(ws_ + "/sub/nested.txt"));
  write(scratch_ + "/gate/go", "");
  auto r = run.wait(30s);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read(ws_ + "/new.txt"), "new\n");
  EXPECT_EQ(read(ws_ + "/change.txt"), "changed\n");
  EXPECT_EQ(read(ws_ + "/keep.txt"), "keep\n");
  EXPECT_EQ(read(ws_ + "/made/deep/f"), "deep\n");
  EXPECT_FALSE(stdfs::exists(ws_ + "/delete.txt"));
  EXPECT_FALSE(stdfs::exists(ws_ + "/sub"));
  struct stat st{};
  ASSERT_EQ(stat((ws_ + "/keep.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(leftover_sandboxes().empty());
}

TEST_F(WorkspaceTest, CopyInOutSyncFailureKeepsTheStagedCopy) {
  // Make the host tree unwritable for the sync by turning it into a read-only bind mount.
  ASSERT_EQ(sh("mount --bind " + ws_ + " " + ws_ + " && mount -o remount,bind,ro " + ws_).status, 0);
  auto r = nucleus({"run", "--name", "keepme", "--workspace", ws_, "--workspace-mode",
                    "copy-in-out", "--", "/bin/sh", "-c", "echo precious > work.txt"});
  sh("umount " + ws_);
  EXPECT_EQ(r.status, 125);
  std::string kept = state_root_ + "/recovered/keepme-workspace";
  EXPECT_NE(r.err.find(kept), std::string::npos) << r.err;
  EXPECT_EQ(read(kept + "/work.txt"), "precious\n");
}

TEST_F(WorkspaceTest, VolumesReadOnlyAndReadWrite) {
  stdfs::create_directories(scratch_ + "/rw");
  stdfs::create_directories(scratch_ + "/ro");
  write(scratch_ + "/ro/data", "ro-data\n");
  auto r = nucleus({"run", "-v", scratch_ + "/rw:/data/rw", "-v", scratch_ + "/ro:/data/ro:ro",
                    "--tmpfs", "/scratch:1m", "--", "/bin/sh", "-c",
                    "echo hi > /data/rw/out && cat /data/ro/data && "
                    "(echo x > /data/ro/data) 2>/dev/null || echo ro-refused; "
                    "echo t > /scratch/t && df -k /scratch | tail -1 | awk '{print $2}'"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read(scratch_ + "/rw/out"), "hi\n");
  EXPECT_EQ(r.out, "ro-data\nro-refused\n1024\n");
  EXPECT_EQ(read(scratch_ + "/ro/data"), "ro-data\n");
}

TEST_F(WorkspaceTest, RootfsIsUsedReadOnly) {
  // A tiny rootfs made of binds of the host's /usr (merged-/usr layout).
  std::string rootfs = scratch_ + "/rootfs";
  for (const char* d : {"usr", "proc", "dev", "tmp", "etc"}) stdfs::create_directories(rootfs + "/" + d);
  for (const char* l : {"bin", "lib", "lib64", "sbin"})
    stdfs::create_symlink(std::string("usr/") + l, rootfs + "/" + l);
  write(rootfs + "/etc/marker", "rootfs\n");
  write(rootfs + "/etc/hostname", "");
  ASSERT_EQ(sh("mount --bind /usr " + rootfs + "/usr").status, 0);
  auto r = nucleus({"run", "--rootfs", rootfs, "--hostname", "rfs", "--", "/bin/sh", "-c",
                    "cat /etc/marker /etc/hostname; touch /etc/x 2>/dev/null || echo ro"});
  sh("umount " + rootfs + "/usr");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "rootfs\nrfs\nro\n");
}

}  // namespace
}  // namespace nucleus::testing
