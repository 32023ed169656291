#include "core/base/netns.h"

#include <fcntl.h>
#include <sched.h>

#include <cstdlib>

#include "core/base/log.h"

namespace nucleus {

Result<NetnsVisit> NetnsVisit::enter(int netns_fd) {
  UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) return errno_error("setns", "cannot open this thread's network namespace");
  if (::setns(netns_fd, CLONE_NEWNET) != 0)
    return errno_error("setns", "network namespace fd " + std::to_string(netns_fd));
  return NetnsVisit(std::move(home));
}

NetnsVisit::~NetnsVisit() {
  if (!home_) return;  // moved from
  if (::setns(home_.get(), CLONE_NEWNET) != 0) {
    log::write(log::Level::kError, "", "cannot return to the host network namespace; aborting");
    std::abort();
  }
}

}  // namespace nucleus
