// Wires a sandbox to its NetBackend: picks the backend, opens the sandbox's netns, attaches and
// publishes ports, and detaches at teardown.
#pragma once

#include <sys/types.h>

#include <memory>

#include "core/base/journal.h"
#include "core/base/unique_fd.h"
#include "core/spec/spec.h"
#include "net/backend.h"

namespace nucleus {

class SandboxNetwork {
 public:
  SandboxNetwork();
  ~SandboxNetwork();
  // Attaches the sandbox whose init is `pid`; rolls back on failure.
  [[nodiscard]] Result<net::NetAttachment> attach(const ValidSpec& spec, pid_t pid,
                                                  Journal& journal);
  void detach() noexcept;
  // The sandbox's network namespace (valid after attach); egress installs its rules there.
  [[nodiscard]] int netns_fd() const { return netns_.get(); }

 private:
  std::unique_ptr<net::NetBackend> backend_;
  UniqueFd netns_;
};

}  // namespace nucleus
