// The supervisor loop: one Asio io_context that waits for the workload to exit, forwards signals
// and escalates to SIGKILL when a workload ignores SIGINT/SIGTERM (a PID 1 without handlers does).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "core/base/result.h"
#include "core/base/unique_fd.h"

namespace nucleus {

// Signals nucleus forwards to the workload. They are blocked in the supervisor from before clone
// (and unblocked in the child before exec), so none is lost or acted on by nucleus itself.
[[nodiscard]] sigset_t forwarded_signals();
// Blocks forwarded_signals() in the calling thread; call before launching the child.
void block_forwarded_signals();

struct ExitStatus {
  int code = 0;         // what nucleus exits with: exit code, or 128+signal
  bool signaled = false;
  int signal = 0;
};

class Supervisor {
 public:
  Supervisor(asio::io_context& io, UniqueFd pidfd, std::chrono::seconds stop_timeout);
  // Runs the loop until the workload has exited and been reaped.
  [[nodiscard]] Result<ExitStatus> run();
  // Called for each forwarded signal (audit/log hook); may be empty.
  std::function<void(int)> on_signal;

 private:
  void wait_for_exit();
  void wait_for_signal();
  void forward(int sig);

  asio::io_context& io_;
  int pidfd_ = -1;  // owned by pidfd_desc_
  std::chrono::seconds stop_timeout_;
  struct Impl;
  std::shared_ptr<Impl> impl_;
  std::optional<ExitStatus> status_;
  Error error_;
};

}  // namespace nucleus
