// An exclusive flock(2) on a lock file in the state directory, released when the guard dies.
//
// flock locks belong to the open file description, so two threads of one process that each open
// the lock file exclude each other just like two processes do. The lock dies with its holder, so a
// crashed run never leaves a stale lock behind.
#pragma once

#include <string>

#include "core/base/result.h"
#include "core/base/unique_fd.h"

namespace nucleus::net {

class StateLock {
 public:
  // Creates the parent directory if needed and blocks until the lock is held.
  [[nodiscard]] static Result<StateLock> acquire(const std::string& path);

 private:
  explicit StateLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing it releases the lock
};

}  // namespace nucleus::net
