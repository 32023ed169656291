// Test helpers: run a program and capture its output, with a deadline.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace nucleus::testing {

struct CommandResult {
  int status = -1;  // exit code, 128+N when killed by signal N, -1 when it could not start
  std::string out;
  std::string err;
};

// Runs argv (argv[0] looked up in PATH) with an optional stdin, killing it after `timeout`.
CommandResult run(const std::vector<std::string>& argv,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60),
                  const std::string& input = {});

// A program started in the background; its output is collected when it is waited for.
class Spawned {
 public:
  explicit Spawned(const std::vector<std::string>& argv);
  ~Spawned();  // kills it if still running
  Spawned(const Spawned&) = delete;
  Spawned& operator=(const Spawned&) = delete;
  [[nodiscard]] int pid() const { return pid_; }
  void signal(int sig) const;
  // Waits for exit (killing it after `timeout`) and returns status and output.
  CommandResult wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));

 private:
  int pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool done_ = false;
};

// Runs a /bin/sh script.
CommandResult sh(const std::string& script,
                 std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Polls `probe` until it returns true or the deadline passes; never sleeps blindly.
template <typename Probe>
bool eventually(Probe probe, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (probe()) return true;
    struct timespec ts{0, 20'000'000};
    nanosleep(&ts, nullptr);
  }
  return probe();
}

// Path of the built nucleus binary and of the probe.
std::string nucleus_binary();
std::string probe_binary();

}  // namespace nucleus::testing
