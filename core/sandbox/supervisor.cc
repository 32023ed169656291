#include "core/sandbox/supervisor.h"

#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <string>

#include "core/base/log.h"

namespace nucleus {
namespace {
constexpr log::Logger kLog("supervisor");
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
}  // namespace

sigset_t forwarded_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kForwarded) sigaddset(&set, sig);
  return set;
}

void block_forwarded_signals() {
  sigset_t set = forwarded_signals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
}

struct Supervisor::Impl {
  Impl(asio::io_context& io, int pidfd, int sigfd) : pidfd(io, pidfd), sigfd(io, sigfd), kill_timer(io) {}
  asio::posix::stream_descriptor pidfd;
  asio::posix::stream_descriptor sigfd;
  asio::steady_timer kill_timer;
  bool kill_armed = false;
};

Supervisor::Supervisor(asio::io_context& io, UniqueFd pidfd, std::chrono::seconds stop_timeout)
    : io_(io), pidfd_(pidfd.get()), stop_timeout_(stop_timeout) {
  sigset_t set = forwarded_signals();
  int sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  impl_ = std::make_shared<Impl>(io, pidfd.release(), sigfd);
}

void Supervisor::wait_for_exit() {
  impl_->pidfd.async_wait(asio::posix::stream_descriptor::wait_read, [this](std::error_code ec) {
    if (ec) return;
    siginfo_t info{};
    // The pidfd is readable once the process has exited; reap it through the pidfd so we can
    // never reap (or signal) a different process that reused the pid.
    if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_), &info, WEXITED) != 0) {
      error_ = Error{errno, "waitid", "sandbox workload"};
    } else if (info.si_code == CLD_EXITED) {
      status_ = ExitStatus{info.si_status, false, 0};
    } else {
      status_ = ExitStatus{128 + info.si_status, true, info.si_status};
    }
    // Other subsystems (DNS proxy, timers) share this loop; the workload's end ends it.
    io_.stop();
  });
}

void Supervisor::wait_for_signal() {
  impl_->sigfd.async_wait(asio::posix::stream_descriptor::wait_read, [this](std::error_code ec) {
    if (ec) return;
    signalfd_siginfo info{};
    while (::read(impl_->sigfd.native_handle(), &info, sizeof info) == sizeof info)
      forward(static_cast<int>(info.ssi_signo));
    wait_for_signal();
  });
}

void Supervisor::forward(int sig) {
  if (on_signal) on_signal(sig);
  syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0);
  // A PID 1 without a handler ignores SIGINT/SIGTERM; Ctrl-C must still end the run.
  if ((sig == SIGINT || sig == SIGTERM) && !impl_->kill_armed) {
    impl_->kill_armed = true;
    impl_->kill_timer.expires_after(stop_timeout_);
    impl_->kill_timer.async_wait([this](std::error_code ec) {
      if (ec) return;
      kLog.warn("workload ignored the stop signal for " + std::to_string(stop_timeout_.count()) +
                "s; sending SIGKILL");
      syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
    });
  }
}

Result<ExitStatus> Supervisor::run() {
  wait_for_exit();
  wait_for_signal();
  io_.run();
  if (!status_) return std::unexpected(error_);
  return *status_;
}

}  // namespace nucleus
