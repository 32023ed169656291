#include "tests/support/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace nucleus::testing {
namespace {

void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

CommandResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                  const std::string& input) {
  CommandResult result;
  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC) || pipe2(in_pipe, O_CLOEXEC))
    return result;
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    setpgid(0, 0);
    execvp(cargv[0], cargv.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(in_pipe[0]);
  if (!input.empty()) {
    ssize_t ignored = write(in_pipe[1], input.data(), input.size());
    (void)ignored;
  }
  close(in_pipe[1]);
  set_nonblock(out_pipe[0]);
  set_nonblock(err_pipe[0]);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool killed = false;
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_count = 2;
  while (open_count > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      if (!killed) kill(-pid, SIGKILL), kill(pid, SIGKILL);
      killed = true;
      left = std::chrono::milliseconds(1000);
      deadline = std::chrono::steady_clock::now() + left;
    }
    int n = poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || errno != EAGAIN) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int status = 0;
  if (!killed) {
    // The pipes closed, but a daemonized grandchild may hold them; the child itself must end.
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  } else {
    waitpid(pid, &status, 0);
  }
  if (WIFEXITED(status)) result.status = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.status = 128 + WTERMSIG(status);
  return result;
}

Spawned::Spawned(const std::vector<std::string>& argv) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC)) return;
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execvp(cargv[0], cargv.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
}

Spawned::~Spawned() {
  if (!done_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    wait(std::chrono::seconds(5));
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
}

void Spawned::signal(int sig) const {
  if (pid_ > 0 && !done_) kill(pid_, sig);
}

CommandResult Spawned::wait(std::chrono::milliseconds timeout) {
  CommandResult result;
  if (pid_ <= 0 || done_) return result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) kill(pid_, SIGKILL);
    struct timespec ts{0, 10'000'000};
    nanosleep(&ts, nullptr);
  }
  done_ = true;
  for (int fd : {out_fd_, err_fd_}) {
    set_nonblock(fd);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
      (fd == out_fd_ ? result.out : result.err).append(buf, static_cast<size_t>(n));
  }
  if (WIFEXITED(status)) result.status = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.status = 128 + WTERMSIG(status);
  return result;
}

CommandResult sh(const std::string& script, std::chrono::milliseconds timeout) {
  return run({"/bin/sh", "-c", script}, timeout);
}

std::string nucleus_binary() { return NUCLEUS_BINARY; }
std::string probe_binary() { return NUCLEUS_PROBE; }

}  // namespace nucleus::testing
