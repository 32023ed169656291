// run_detached: the child keeps exactly the descriptors it is given (in any order, repeated), runs
// its body and exits without anybody waiting for it.
#include "core/base/detached.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace nucleus {
namespace {

struct Probe {
  int report = -1;     // where the child writes what it saw
  int fds[3] = {};     // descriptors whose state it reports
};

// Writes one byte per probed fd: '1' when open in the child, '0' when closed.
void report_open_fds(void* arg) {
  const auto* probe = static_cast<const Probe*>(arg);
  char seen[3];
  for (int i = 0; i < 3; ++i) seen[i] = ::fcntl(probe->fds[i], F_GETFD) == -1 ? '0' : '1';
  ssize_t ignored = ::write(probe->report, seen, sizeof seen);
  (void)ignored;
}

TEST(RunDetached, ChildKeepsOnlyTheGivenDescriptors) {
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  Probe probe;
  probe.report = report[1];
  for (int& fd : probe.fds) {
    fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
  }
  // Unsorted and with a repeat; the middle probe fd is closed, the others kept.
  const int keep[] = {probe.fds[2], report[1], probe.fds[0], probe.fds[0]};
  ASSERT_TRUE(run_detached(keep, report_open_fds, &probe));
  ::close(report[1]);
  char seen[4] = {};
  pollfd p{report[0], POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1);
  ASSERT_EQ(::read(report[0], seen, 3), 3);
  EXPECT_STREQ(seen, "101");
  // Still open here: the child's closing touched only its own copies.
  for (int fd : probe.fds) EXPECT_NE(::fcntl(fd, F_GETFD), -1);
  for (int fd : probe.fds) ::close(fd);
  ::close(report[0]);
}

TEST(RunDetached, RefusesInvalidDescriptors) {
  const int negative[] = {-1};
  EXPECT_FALSE(run_detached(negative, [](void*) {}, nullptr));
  const int too_many[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_FALSE(run_detached(too_many, [](void*) {}, nullptr));
}

}  // namespace
}  // namespace nucleus
