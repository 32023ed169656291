#include "core/security/seccomp_trace.h"

#include <dirent.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <thread>

#include "core/base/fs.h"
#include "core/security/seccomp_profile.h"

namespace nucleus::security {
namespace {

// Returns the listener's fd number in `pid`, or -1 if there is none yet.
Result<int> find_listener(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  struct DirCloser {
    void operator()(DIR* d) const { ::closedir(d); }
  };
  std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
  if (!d) return errno_error("opendir " + dir);
  while (dirent* ent = ::readdir(d.get())) {
    if (ent->d_name[0] == '.') continue;
    std::string link = dir + "/" + ent->d_name;
    char target[64] = {};
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    if (std::string_view(target, static_cast<std::size_t>(n)) == "anon_inode:seccomp notify") {
      return std::atoi(ent->d_name);
    }
  }
  return -1;
}

}  // namespace

Result<SeccompTracer> SeccompTracer::try_attach(int pidfd, pid_t pid) {
  ASSIGN_OR_RETURN(int target, find_listener(pid));
  if (target < 0) return make_error(ENOENT, "seccomp trace", "listener not installed yet");
  // pidfd_getfd returns the copy with FD_CLOEXEC set.
  long fd = ::syscall(SYS_pidfd_getfd, pidfd, target, 0);
  if (fd < 0) return errno_error("pidfd_getfd", "seccomp listener");
  return SeccompTracer(UniqueFd(static_cast<int>(fd)));
}

Result<SeccompTracer> SeccompTracer::attach(int pidfd, pid_t pid,
                                            std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto tracer = try_attach(pidfd, pid);
    if (tracer) return tracer;
    // ENOENT/EBADF: not installed yet (or it raced with our scan); anything else is final,
    // including the process being gone (opendir fails with ENOENT -> errno_error code ENOENT,
    // which we cannot tell apart here, so the deadline ends that case).
    int code = tracer.error().code;
    if (code != ENOENT && code != EBADF) return tracer;
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(ETIMEDOUT, "seccomp trace", "workload never installed its listener");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

SeccompTracer SeccompTracer::from_fd(UniqueFd listener) { return SeccompTracer(std::move(listener)); }

Result<bool> SeccompTracer::handle_one() {
  // RECV would block forever once the last traced task is gone, so look first.
  pollfd pfd{listener_.get(), POLLIN, 0};
  if (::poll(&pfd, 1, 0) < 0) return errno == EINTR ? Result<bool>(false) : errno_error("poll");
  if ((pfd.revents & POLLIN) == 0) {
    if ((pfd.revents & (POLLHUP | POLLERR)) != 0) done_ = true;
    return false;
  }
  seccomp_notif req{};
  for (;;) {
    if (::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_RECV, &req) == 0) break;
    if (errno == EINTR) continue;
    // ENOENT: the task died before we received it. Nothing to answer.
    if (errno == ENOENT) return false;
    return errno_error("SECCOMP_IOCTL_NOTIF_RECV");
  }
  char* name = seccomp_syscall_resolve_num_arch(req.data.arch, req.data.nr);
  if (name != nullptr) {
    seen_.emplace(name);
    std::free(name);
  } else {
    seen_.emplace("unknown_" + std::to_string(req.data.nr));
  }
  seccomp_notif_resp resp{};
  resp.id = req.id;
  resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  if (::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0 && errno != ENOENT) {
    return errno_error("SECCOMP_IOCTL_NOTIF_SEND");
  }
  return true;
}

std::vector<std::string> SeccompTracer::syscalls() const {
  return std::vector<std::string>(seen_.begin(), seen_.end());
}

Result<void> SeccompTracer::write_log(const std::string& path) const {
  return fs::write_atomic(path, format_trace_log(syscalls()), 0644);
}

}  // namespace nucleus::security
