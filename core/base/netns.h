// Doing something inside another network namespace from the calling thread.
//
// A socket stays bound to the network namespace it was created in, so opening one "in" a sandbox
// means: join the sandbox's namespace, create the socket, come back. setns() moves only the
// calling thread and costs microseconds. (An earlier version used a throwaway thread instead;
// starting one cost 1-2 ms here, mostly waking the other, idle vCPU.)
#pragma once

#include <type_traits>

#include "core/base/result.h"
#include "core/base/unique_fd.h"

namespace nucleus {

// While alive, the calling thread is in another network namespace; the destructor moves it back.
// If it cannot move back the process aborts: carrying on would aim host work at the sandbox.
class NetnsVisit {
 public:
  [[nodiscard]] static Result<NetnsVisit> enter(int netns_fd);
  NetnsVisit(NetnsVisit&& other) noexcept = default;
  NetnsVisit& operator=(NetnsVisit&&) = delete;
  NetnsVisit(const NetnsVisit&) = delete;
  ~NetnsVisit();

 private:
  explicit NetnsVisit(UniqueFd home) : home_(std::move(home)) {}
  UniqueFd home_;
};

// Runs fn() (which returns a Result) with the calling thread in `netns_fd`; -1 runs it where the
// thread already is. fn must not hand the thread to other work (no event loop inside).
template <typename Fn>
[[nodiscard]] auto run_in_netns(int netns_fd, Fn&& fn) -> std::invoke_result_t<Fn> {
  if (netns_fd < 0) return fn();
  auto visit = NetnsVisit::enter(netns_fd);
  if (!visit) return std::unexpected(visit.error());
  return fn();
}

}  // namespace nucleus
