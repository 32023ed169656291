// UniqueFd: the only owner of a file descriptor in nucleus.
//
// Move-only; closes on destruction. Every fd the runtime creates must be CLOEXEC so nothing leaks
// into the workload (open with O_CLOEXEC, socket with SOCK_CLOEXEC, ...). `close_signal_safe` is the
// form to use between clone and exec, where only async-signal-safe calls are allowed.
#pragma once

#include <unistd.h>

#include <utility>

namespace nucleus {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership without closing.
  [[nodiscard]] int release() { return std::exchange(fd_, -1); }

  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace nucleus
