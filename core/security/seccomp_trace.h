// SeccompTracer: the supervisor's half of `--seccomp-mode trace`.
//
// The child installs a filter whose default action is SECCOMP_RET_USER_NOTIF with
// SECCOMP_FILTER_FLAG_NEW_LISTENER (see seccomp.h). From then on every syscall of the workload
// waits until someone answers on the listener fd, so the supervisor must take that fd right away:
// `attach()` finds it in /proc/PID/fd (link "anon_inode:seccomp notify") and copies it with
// pidfd_getfd(2). No protocol with the child is needed, and there is no deadlock: the child's
// first syscall after install simply blocks until the supervisor has attached and answered.
//
// Driving it: register fd() with the event loop; whenever it is readable call handle_one().
// Each notification is recorded (syscall name via libseccomp) and answered with
// SECCOMP_USER_NOTIF_FLAG_CONTINUE, so the syscall runs exactly as without the filter.
// SECCOMP_USER_NOTIF_FLAG_CONTINUE is not a security boundary, which is fine: tracing is a
// development mode that records, it does not enforce (the denied set still applies).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "core/base/unique_fd.h"

namespace nucleus::security {

class SeccompTracer {
 public:
  // Waits (polling, up to `timeout`) until process `pid` has installed its listener, then copies
  // it through `pidfd`. Fails if the process exits first or the deadline passes.
  [[nodiscard]] static Result<SeccompTracer> attach(int pidfd, pid_t pid,
                                                    std::chrono::milliseconds timeout);
  // One attempt, no waiting: nullopt-like error code ENOENT when the listener is not there yet.
  [[nodiscard]] static Result<SeccompTracer> try_attach(int pidfd, pid_t pid);
  // Wraps a listener fd obtained another way (e.g. in a test, from install_seccomp directly).
  [[nodiscard]] static SeccompTracer from_fd(UniqueFd listener);

  [[nodiscard]] int fd() const { return listener_.get(); }

  // Receives one pending notification and answers CONTINUE; true after handling one. Never
  // blocks: returns false when nothing is pending, the notification was withdrawn (the task was
  // killed), or every traced task is gone (then done() becomes true and the fd polls as HUP;
  // the supervisor should stop watching it).
  [[nodiscard]] Result<bool> handle_one();
  [[nodiscard]] bool done() const { return done_; }

  // Syscall names seen so far, sorted.
  [[nodiscard]] std::vector<std::string> syscalls() const;
  // Writes the trace log (format_trace_log) atomically to `path`.
  [[nodiscard]] Result<void> write_log(const std::string& path) const;

 private:
  explicit SeccompTracer(UniqueFd listener) : listener_(std::move(listener)) {}
  UniqueFd listener_;
  std::set<std::string> seen_;
  bool done_ = false;
};

}  // namespace nucleus::security
